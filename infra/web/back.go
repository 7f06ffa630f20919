package web

import (
	"net/url"
	"path"
	"strings"
	"unicode"
)

// home is where a redirect goes when the page asked for is not a safe one.
const home = "/ui/"

// safeBack returns a redirect target on this site under /ui/ for the page a
// request names, or /ui/ when it names anything else. The target is parsed and
// its path cleaned before it is judged, so that nothing in it can name another
// host once a browser or http.Redirect resolves it: no scheme, no host, no
// backslash, no "//", no control character, no ".." that leaves /ui/.
func safeBack(raw string) string {
	if raw == "" || strings.ContainsFunc(raw, unsafeRune) {
		return home
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || u.Fragment != "" {
		return home
	}
	// The decoded path: %5C, %2F and %09 count as what they stand for.
	p := u.Path
	if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") || strings.ContainsFunc(p, unsafeRune) {
		return home
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	if clean != p || !strings.HasPrefix(clean, home) {
		return home // ".", ".." or anything outside /ui/
	}
	if strings.ContainsFunc(u.RawQuery, unsafeRune) {
		return home
	}
	out := &url.URL{Path: clean, RawQuery: u.RawQuery}
	return out.String()
}

// unsafeRune is a character no redirect target of ours contains: a backslash
// (browsers read it as a slash) or a control or bidirectional-formatting character.
func unsafeRune(r rune) bool {
	return r == '\\' || unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}
