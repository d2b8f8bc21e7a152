//go:build ignore

// gen_common writes common-passwords.txt from the passwords list of the npm
// package @zxcvbn-ts/language-common (src/passwords.json, a JSON array in
// order of frequency):
//
//	cd "$(mktemp -d)" && npm pack @zxcvbn-ts/language-common && tar xzf zxcvbn-ts-language-common-*.tgz
//	go run gen_common.go "$OLDPWD/package/src/passwords.json" > common-passwords.txt
//
// It keeps the entries of at least 8 bytes (shorter passwords fail the
// length rule anyway), lowercased with strings.ToLower as CheckPassword
// does, without duplicates, in their original order. Update the version in
// common-passwords.LICENSE.md with the file.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run gen_common.go passwords.json > common-passwords.txt")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var list []string
	if err := json.Unmarshal(data, &list); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	seen := map[string]bool{}
	for _, p := range list {
		p = strings.ToLower(p)
		if len(p) < 8 || seen[p] || strings.ContainsAny(p, "\r\n") {
			continue
		}
		seen[p] = true
		fmt.Fprintln(w, p)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
