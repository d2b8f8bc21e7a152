package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/batonauth/baton/client"
	"golang.org/x/oauth2"
)

// A command-line program keeps its session in a file-backed TokenStore;
// here an in-memory one stands in.
func Example() {
	ctx := context.Background()
	t := client.New(client.Options{BaseURL: "https://auth.example.com", Store: &client.MemoryStore{}})
	if err := t.Login(ctx, "alice@example.com", "correct horse battery staple"); err != nil {
		log.Fatal(err)
	}
	// Every request gets the access token; it is refreshed before it
	// expires, and once more on 401 token_expired.
	resp, err := t.Client().Get("https://auth.example.com/v1/me")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status)
}

// The Transport is also an oauth2.TokenSource, for code built on
// golang.org/x/oauth2.
func ExampleTransport_TokenSource() {
	ctx := context.Background()
	t := client.New(client.Options{BaseURL: "https://auth.example.com"})
	hc := oauth2.NewClient(ctx, t.TokenSource(ctx))
	_ = hc
}
