package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestLanguageSwitchGoesBackOnlyWithinTheUI sends the language switch hostile
// "back" values of every kind (encoded slashes and backslashes, "..", control
// characters, absolute and scheme-relative URLs, other schemes) and checks that
// the Location it answers, resolved as a browser resolves it, stays on this host
// and under /ui/; ordinary pages are kept.
func TestLanguageSwitchGoesBackOnlyWithinTheUI(t *testing.T) {
	s := newTestServer(t)
	hostile := []string{
		`/ui/../%5C127.0.0.2:18191/x`, // the reported case
		`/ui/../\127.0.0.2/x`, `/ui/..\..\evil.example/`, `/ui/%5C%5Cevil.example/`, `/ui/..%5Cevil.example`,
		`/ui/../%2F%2Fevil.example/`, `/ui/%2F%2Fevil.example`, `/ui/%2f..%2f..%2f%2fevil.example`,
		`/ui/../../evil`, `/ui/./../x`, `/ui/%2e%2e/%2e%2e/x`, `/ui/..`, `/ui/%2E%2E%2F%2F127.0.0.2`,
		"/ui/\t/evil.example", "/ui/%09/evil.example", "/ui/\n//evil.example", "/ui/%0d%0aLocation:%20http://evil.example",
		"/ui/%00", "/ui/\u202e/x",
		`//evil.example/`, `///evil.example/`, `/\evil.example`, `\\evil.example`, `/%5Cevil.example`, `/%2F/evil.example`,
		`http://evil.example/ui/`, `https:evil.example`, `HTTP://127.0.0.1/ui/`, `//127.0.0.2/ui/`, `http:/ui/`,
		`javascript:alert(1)`, `JaVaScRiPt:alert(1)//ui/`, `data:text/html,x`, ` javascript:alert(1)`,
		`ui/inbox`, `../ui/`, `/uix`, `/ui`, `/`, ``, `#/ui/`, `/ui/#//evil.example`, `/ui/@evil.example`,
		`/ui/inbox?x=\evil`, `%2Fui%2F`, `/ui/%zz`,
	}
	base, _ := url.Parse("http://127.0.0.1/")
	for _, back := range hostile {
		loc := lang(t, s, back)
		u, err := base.Parse(loc)
		if err != nil {
			t.Errorf("back=%q: Location %q does not parse: %v", back, loc, err)
			continue
		}
		// A browser reads backslashes as slashes: check that reading too.
		alt, _ := base.Parse(strings.ReplaceAll(loc, `\`, "/"))
		for _, v := range []*url.URL{u, alt} {
			if v == nil || v.Scheme != "http" || v.Host != "127.0.0.1" || !strings.HasPrefix(v.Path, "/ui/") {
				t.Errorf("back=%q: Location %q leads to %v", back, loc, v)
			}
		}
		if strings.ContainsAny(loc, "\\\t\r\n") || strings.Contains(loc, "//") {
			t.Errorf("back=%q: Location %q", back, loc)
		}
	}
	for back, want := range map[string]string{
		"/ui/inbox":              "/ui/inbox",
		"/ui/households/h-1":     "/ui/households/h-1",
		"/ui/dashboard?period=w": "/ui/dashboard?period=w",
		"/ui/":                   "/ui/",
	} {
		if got := lang(t, s, back); got != want {
			t.Errorf("back=%q: Location %q, want %q", back, got, want)
		}
	}
}

// lang asks the language switch to go back to a page and returns where it sends.
func lang(t *testing.T, s *Server, back string) string {
	t.Helper()
	req := httptest.NewRequest("GET", "/ui/lang?to=en&back="+url.QueryEscape(back), nil)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("back=%q: %d", back, rec.Code)
	}
	return rec.Header().Get("Location")
}
