package wxseal_test

// Compiled (not run) copies of the README examples, so the README keeps compiling.

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"os"

	wxseal "wxseal.dev/go"
	"wxseal.dev/go/redisnonce"
)

func ExampleMiddleware() {
	pem, _ := os.ReadFile("server-key.pem") // PKCS#8, RSA or X25519 (wxseal keygen)
	sk, err := wxseal.ParseServerKeyPEM(pem)
	if err != nil {
		log.Fatal(err)
	}
	secret, _ := wxseal.B64uDecode(os.Getenv("BFF_SECRET"))
	v := &wxseal.Verifier{
		Credentials: wxseal.StaticCredentials{"bff-prod": {Secrets: []wxseal.Secret{{Key: secret}}}},
		ServerKeys:  map[string]wxseal.ServerKey{wxseal.ServerKeyIDFor(sk.Public()): sk},
		Nonces:      redisnonce.New("127.0.0.1:6379", "wxseal:nonce:"), // or wxseal.NewMemoryNonceStore(0)
	}
	api := http.NewServeMux()
	api.HandleFunc("/api/orders", func(w http.ResponseWriter, r *http.Request) {
		who, _ := wxseal.FromContext(r.Context()) // verified: key id, mode, identity
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"openid": who.Identity.OpenID(), "client": who.KeyID})
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", wxseal.Middleware(v, api)))
}

func ExampleClient() {
	ctx := context.Background()
	pub, _ := os.ReadFile("server-public.pem") // SPKI, RSA or X25519
	key, _ := wxseal.ParseServerPublicKeyPEM(pub)
	secret, _ := wxseal.B64uDecode(os.Getenv("BFF_SECRET"))
	c := &wxseal.Client{
		BaseURL: "https://api.example.com", KeyID: "bff-prod", Secret: secret,
		ServerKeyID: wxseal.ServerKeyIDFor(key), ServerKey: key, // Mode: wxseal.ModeSigned for sign-only
	}
	resp, err := c.Do(ctx, wxseal.Call{
		Method: "POST", Target: "/api/orders?x=1", ContentType: "application/json",
		Identity: wxseal.Identity{"openid": "o-1", "source": "wx_client"},
		Body:     []byte(`{"sku":"A-1"}`),
	})
	var rej *wxseal.Error
	if errors.As(err, &rej) {
		log.Printf("refused: %s (%d), signed rejection: %v", rej.Code, rej.Status, rej.Signed)
		return
	} else if err != nil {
		log.Print(err)
		return
	}
	log.Println(resp.Status, resp.ContentType, string(resp.Body))
}
