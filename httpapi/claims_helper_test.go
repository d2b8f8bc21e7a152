package httpapi_test

import (
	"net/http"

	"github.com/batonauth/baton/httpapi"
	"github.com/batonauth/baton/token"
)

func httpapiClaims(r *http.Request) (*token.Claims, bool) { return httpapi.ClaimsFrom(r.Context()) }
