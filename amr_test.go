package baton_test

import (
	"testing"

	"github.com/batonauth/baton"
	"github.com/google/go-cmp/cmp"
)

func TestAMR(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   []string
		want []string
	}{
		{"None", nil, nil},
		{"Password", []string{"pwd"}, []string{"pwd"}},
		{"Reordered", []string{"mfa", "otp", "pwd"}, []string{"pwd", "otp", "mfa"}},
		{"Duplicates", []string{"hwk", "mfa", "hwk"}, []string{"hwk", "mfa"}},
		{"UnknownDropped", []string{"sms", "pwd", "PWD"}, []string{"pwd"}},
		{"OnlyUnknown", []string{"sms"}, nil},
		{"All", []string{"mfa", "hwk", "otp", "pwd"}, []string{"pwd", "otp", "hwk", "mfa"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, baton.AMR(tt.in...)); diff != "" {
				t.Errorf("AMR(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseAMR(t *testing.T) {
	for _, tt := range []struct {
		stored  string
		want    []string
		wantErr bool
	}{
		{stored: "", want: nil},
		{stored: "pwd", want: []string{"pwd"}},
		{stored: "pwd otp mfa", want: []string{"pwd", "otp", "mfa"}},
		{stored: "hwk mfa", want: []string{"hwk", "mfa"}},
		{stored: "pwd otp hwk mfa", want: []string{"pwd", "otp", "hwk", "mfa"}},
		{stored: "otp pwd", wantErr: true},
		{stored: "pwd pwd", wantErr: true},
		{stored: "pwd  otp", wantErr: true},
		{stored: " pwd", wantErr: true},
		{stored: "pwd ", wantErr: true},
		{stored: "sms", wantErr: true},
		{stored: "PWD", wantErr: true},
		{stored: "pwd,otp", wantErr: true},
	} {
		t.Run(tt.stored, func(t *testing.T) {
			got, err := baton.ParseAMR(tt.stored)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseAMR(%q): error %v, want error %v", tt.stored, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseAMR(%q) (-want +got):\n%s", tt.stored, diff)
			}
			if err != nil {
				if _, err := baton.FormatAMR(got); err != nil {
					t.Errorf("FormatAMR(nil): %v", err)
				}
				return
			}
			s, err := baton.FormatAMR(got)
			if err != nil || s != tt.stored {
				t.Errorf("FormatAMR(%q) = %q, %v; want %q", got, s, err, tt.stored)
			}
		})
	}
	if _, err := baton.FormatAMR([]string{"otp", "pwd"}); err == nil {
		t.Error("FormatAMR accepted a non-canonical order")
	}
	if _, err := baton.FormatAMR([]string{"pwd otp"}); err == nil {
		t.Error("FormatAMR accepted a name with a space")
	}
}
