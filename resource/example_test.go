package resource_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/batonauth/baton/resource"
)

// An API that accepts baton's access tokens: every route needs a valid
// token of a live session, and the critical one a password verification
// from the last five minutes.
func Example() {
	ctx := context.Background()
	v, err := resource.New(ctx, resource.Options{
		Issuer: "https://auth.example.com",
		// With resource credentials, revoked sessions are refused within
		// a second.
		ClientID:     "api",
		ClientSecret: "resource-secret",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	mux := http.NewServeMux()
	mux.Handle("GET /api/me", v.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := resource.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "user %s, session %s\n", c.Subject, c.SessionID)
	})))
	mux.Handle("POST /api/transfer", v.Require(v.RequireFresh(5*time.Minute)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "done")
	}))))
	log.Fatal(http.ListenAndServe("127.0.0.1:9090", mux))
}
