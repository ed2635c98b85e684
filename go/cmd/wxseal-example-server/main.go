// Command wxseal-example-server is a small net/http server behind wxseal.Middleware: /api/echo
// answers with what the verified request carried (mode, key id, identity, content type, body).
// /debug/unwraps (outside the middleware) reports how many session-key unwraps the server ran,
// so a test can prove that forged requests never reach step 7.
//
//	wxseal-example-server -listen 127.0.0.1:0 -client bff-go:<b64u secret> \
//	    -server-key rsa.pem -server-key x25519.pem -server-key sm2.pem \
//	    [-nonce-store redis -redis-addr 127.0.0.1:6379]
//
// A server key file is a PKCS#8 PEM (RSA, X25519 or SM2: an SM2 key selects the SM suite of
// SPEC 6.6), a SEC1 SM2 PEM, or the armored WXSEAL SM2 PRIVATE KEY form. It prints
// "server-key <id> <suite>" for every key, "nonce-store redis loss-second <n>" with a
// Redis store, then "listening http://host:port".
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	wxseal "wxseal.dev/go"
	"wxseal.dev/go/redisnonce"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

var unwraps atomic.Int64

type countingKey struct{ wxseal.ServerKey }

func (k countingKey) Unwrap(w []byte) ([]byte, error) {
	unwraps.Add(1)
	return k.ServerKey.Unwrap(w)
}

func max(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func main() {
	var clients, keyFiles multi
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	flag.Var(&clients, "client", "keyId:b64uSecret (repeatable)")
	flag.Var(&keyFiles, "server-key", "private key file: PKCS#8 PEM (RSA, X25519 or SM2), SEC1 SM2 PEM or WXSEAL SM2 PRIVATE KEY (repeatable)")
	store := flag.String("nonce-store", "memory", "memory or redis")
	redisAddr := flag.String("redis-addr", "127.0.0.1:6379", "Redis address (nonce-store redis)")
	redisPrefix := flag.String("redis-prefix", "wxseal:nonce:", "Redis key prefix")
	sessionCache := flag.Bool("session-cache", false, "cache unwrapped session keys (SPEC 14)")
	window := flag.Int64("window", 60, "timestamp window in seconds")
	flag.Parse()

	creds := wxseal.StaticCredentials{}
	for _, c := range clients {
		// a key id may hold ':', a b64u secret never does
		i := strings.LastIndexByte(c, ':')
		ok := i > 0
		id, secret := c[:max(i, 0)], c[i+1:]
		key, err := wxseal.B64uDecode(secret)
		if !ok || err != nil || len(key) < 32 || len(key) > 64 {
			log.Fatalf("-client %q: want keyId:b64u(32-64 bytes)", c)
		}
		creds[id] = &wxseal.Credential{Secrets: []wxseal.Secret{{Key: key}}}
	}
	keys := map[string]wxseal.ServerKey{}
	for _, f := range keyFiles {
		text, err := os.ReadFile(f)
		if err != nil {
			log.Fatal(err)
		}
		sk, err := wxseal.ParseServerKeyPEM(text)
		if err != nil {
			log.Fatalf("%s: %v", f, err)
		}
		id := wxseal.ServerKeyIDFor(sk.Public())
		keys[id] = countingKey{sk}
		fmt.Printf("server-key %s %s\n", id, sk.Suite())
	}
	v := &wxseal.Verifier{Credentials: creds, ServerKeys: keys, WindowSeconds: *window}
	switch *store {
	case "memory":
		v.Nonces = wxseal.NewMemoryNonceStore(0)
	case "redis":
		rs := redisnonce.New(*redisAddr, *redisPrefix)
		if err := rs.Connect(context.Background()); err != nil {
			log.Printf("redis not reachable yet (%v): requests are refused until it is", err)
		}
		// requests signed at or before this second are refused with WXSEAL_NONCE_STORE_RESET (SPEC 8.1)
		fmt.Printf("nonce-store redis loss-second %d\n", rs.LossSecond())
		v.Nonces = rs
	default:
		log.Fatalf("-nonce-store %q", *store)
	}
	if *sessionCache {
		v.SessionKeys = wxseal.NewSessionKeyCache(10000, 5*time.Minute)
	}

	api := http.NewServeMux()
	api.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		ver, _ := wxseal.FromContext(r.Context())
		body, _ := io.ReadAll(r.Body)
		status := 200
		if s := strings.TrimPrefix(r.URL.Path, "/api/status/"); s != r.URL.Path {
			status, _ = strconv.Atoi(s)
		}
		identity := map[string]string(ver.Identity)
		if identity == nil {
			identity = map[string]string{}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Example", "go")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"server": "go", "method": r.Method, "target": r.RequestURI, "mode": ver.Mode, "keyId": ver.KeyID,
			"identity": identity, "contentType": ver.ContentType, "body": string(body),
		})
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/unwraps", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]int64{"unwraps": unwraps.Load()})
	})
	mux.Handle("/", wxseal.Middleware(v, api))

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening http://%s\n", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}
