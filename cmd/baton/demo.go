package main

import (
	"net/http"

	"github.com/batonauth/baton/demo"
)

// demoHandler is the demo page, served at / unless BATON_DEMO=false.
func demoHandler() http.Handler { return demo.Handler() }
