package web

import (
	"io/fs"
	"net/http/httptest"
	"regexp"
	"testing"
)

// TestEveryTextInBothLanguages checks that the two languages have the same keys,
// none empty, and that every key the templates use exists.
func TestEveryTextInBothLanguages(t *testing.T) {
	for key := range messages[LangZH] {
		if messages[LangEN][key] == "" || messages[LangZH][key] == "" {
			t.Errorf("%q lacks a text in one language", key)
		}
	}
	for key := range messages[LangEN] {
		if _, ok := messages[LangZH][key]; !ok {
			t.Errorf("%q has no zh-CN text", key)
		}
	}
	used := regexp.MustCompile(`\{\{t "([a-z.]+)"\}\}`)
	err := fs.WalkDir(templateFiles, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := templateFiles.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range used.FindAllStringSubmatch(string(b), -1) {
			if _, ok := messages[LangEN][m[1]]; !ok {
				t.Errorf("%s uses %q, which has no text", path, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLanguageFromRequest(t *testing.T) {
	for header, want := range map[string]string{"": LangZH, "en-US,en;q=0.9": LangEN, "zh-TW": LangZH, "fr, en;q=0.5": LangEN, "fr": LangZH} {
		r := httptest.NewRequest("GET", "/ui/", nil)
		r.Header.Set("Accept-Language", header)
		if got := language(r); got != want {
			t.Errorf("Accept-Language %q: %s, want %s", header, got, want)
		}
	}
}
