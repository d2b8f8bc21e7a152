package main

import "net/http"

// demoHandler is the demo page; nil until the page is built.
func demoHandler() http.Handler { return nil }
