// go_client: a Go program calling an LLM the way the official SDKs
// configure themselves: the base URL and key come from the environment
// (OPENAI_BASE_URL / OPENAI_API_KEY, ANTHROPIC_BASE_URL /
// ANTHROPIC_AUTH_TOKEN or ANTHROPIC_API_KEY), the provider's own URL when
// unset. Built static (CGO_ENABLED=0): Go's TLS is compiled in and
// LD_PRELOAD never loads, so only `respan run` reaches it.
//
//	go_client openai|anthropic BODY
//	go_client openai-direct BODY
//	go_client get URL
//
// POSTs BODY to chat/completions or v1/messages and prints the status line
// and the body it got back; exit status 0 on HTTP 200. openai-direct uses
// the provider's own URL whatever the environment says (a program that
// never heard of base URLs). get GETs URL and prints the status line and
// the common name of the certificate chain's issuer (who vouched for the
// server).
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go_client openai|anthropic BODY")
		os.Exit(2)
	}
	var req *http.Request
	var err error
	body := strings.NewReader(os.Args[2])
	switch os.Args[1] {
	case "get":
		resp, err := http.Get(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, "go_client:", err)
			os.Exit(1)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		issuer := ""
		if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
			issuer = resp.TLS.PeerCertificates[0].Issuer.CommonName
		}
		fmt.Println(resp.Status)
		fmt.Println("issuer:", issuer)
		return
	case "openai-direct":
		req, err = http.NewRequest("POST", "https://api.openai.com/v1/chat/completions", body)
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+os.Getenv("OPENAI_API_KEY"))
		}
	case "openai":
		base := strings.TrimSuffix(env("OPENAI_BASE_URL", "https://api.openai.com/v1"), "/")
		req, err = http.NewRequest("POST", base+"/chat/completions", body)
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+os.Getenv("OPENAI_API_KEY"))
		}
	case "anthropic":
		base := strings.TrimSuffix(env("ANTHROPIC_BASE_URL", "https://api.anthropic.com"), "/")
		req, err = http.NewRequest("POST", base+"/v1/messages", body)
		if err == nil {
			if tok := os.Getenv("ANTHROPIC_AUTH_TOKEN"); tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			} else {
				req.Header.Set("x-api-key", os.Getenv("ANTHROPIC_API_KEY"))
			}
			req.Header.Set("anthropic-version", "2023-06-01")
		}
	default:
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "go_client:", err)
		os.Exit(1)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "go-legacy/1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go_client:", err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go_client:", err)
		os.Exit(1)
	}
	fmt.Println(resp.Status)
	os.Stdout.Write(data)
	if resp.StatusCode != 200 {
		os.Exit(1)
	}
}
