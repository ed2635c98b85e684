// Command wxseal-call sends one wxseal request with the Go client and prints the authenticated
// answer as JSON: {"status":…,"contentType":…,"body":…}. A rejection or a failure prints
// {"error":<code>,"status":…,"signed":…} and exits 3.
//
//	wxseal-call -url http://127.0.0.1:8080 -key-id bff -secret <b64u> -server-key-id sk-… \
//	    -server-public-key server.pem [-mode sealed|signed] -method POST -target '/api/x?a=1' \
//	    [-content-type application/json] [-identity '{"openid":"o-1"}'] [-body '{"a":1}']
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	wxseal "wxseal.dev/go"
)

func main() {
	url := flag.String("url", "", "server base URL")
	keyID := flag.String("key-id", "", "client key id")
	secret := flag.String("secret", "", "client secret, b64u")
	serverKeyID := flag.String("server-key-id", "", "server key id")
	pubFile := flag.String("server-public-key", "", "server public key file: SPKI PEM (RSA, X25519 or SM2) or WXSEAL SM2 PUBLIC KEY; an SM2 key selects the SM suite")
	mode := flag.String("mode", wxseal.ModeSealed, "sealed or signed")
	method := flag.String("method", "GET", "HTTP method")
	target := flag.String("target", "/", "path and query")
	contentType := flag.String("content-type", "", "media type of the body")
	identity := flag.String("identity", "", "WeChat identity JSON")
	body := flag.String("body", "", "request body")
	flag.Parse()

	fail := func(v any) {
		_ = json.NewEncoder(os.Stdout).Encode(v)
		os.Exit(3)
	}
	key, err := wxseal.B64uDecode(*secret)
	if err != nil {
		fail(map[string]any{"error": wxseal.CodeConfigInvalid, "detail": "secret is not b64u"})
	}
	c := &wxseal.Client{BaseURL: *url, KeyID: *keyID, Secret: key, Mode: *mode, ServerKeyID: *serverKeyID,
		HTTPClient: &http.Client{Timeout: 15 * time.Second}}
	if *pubFile != "" {
		pem, err := os.ReadFile(*pubFile)
		if err != nil {
			fail(map[string]any{"error": wxseal.CodeConfigInvalid, "detail": err.Error()})
		}
		if c.ServerKey, err = wxseal.ParseServerPublicKeyPEM(pem); err != nil {
			fail(map[string]any{"error": wxseal.CodeConfigInvalid, "detail": err.Error()})
		}
	}
	call := wxseal.Call{Method: *method, Target: *target, ContentType: *contentType, Body: []byte(*body)}
	if *identity != "" {
		id, err := wxseal.ParseIdentityJSON([]byte(*identity))
		if err != nil {
			fail(map[string]any{"error": wxseal.CodeConfigInvalid, "detail": "identity: " + err.Error()})
		}
		call.Identity = id
	}
	resp, err := c.Do(context.Background(), call)
	if err != nil {
		var we *wxseal.Error
		if errors.As(err, &we) {
			fail(map[string]any{"error": we.Code, "status": we.Status, "signed": we.Signed, "detail": we.Detail})
		}
		fail(map[string]any{"error": "UNKNOWN", "detail": err.Error()})
	}
	out, _ := json.Marshal(map[string]any{"status": resp.Status, "contentType": resp.ContentType, "body": string(resp.Body)})
	fmt.Println(string(out))
}
