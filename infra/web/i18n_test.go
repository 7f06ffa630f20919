package web

import (
	"io/fs"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/tierlink/tierlink/domain"
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

// TestEveryValueHasItsText checks the texts of the values pages name by key:
// statuses, dimensions, target groups, decline reasons, urgencies, tiers.
func TestEveryValueHasItsText(t *testing.T) {
	var keys []string
	for _, st := range []domain.NeedStatus{domain.StatusOpen, domain.StatusHeld, domain.StatusWaitlisted, domain.StatusProposed, domain.StatusAccepted,
		domain.StatusInService, domain.StatusCompleted, domain.StatusWithdrawn} {
		keys = append(keys, "need."+string(st), "status."+string(st))
	}
	keys = append(keys, "status.ended")
	for _, d := range domain.AllDimensions() {
		keys = append(keys, "dim."+string(d))
	}
	for _, g := range domain.AllTargetGroups() {
		keys = append(keys, "group."+string(g))
	}
	for _, r := range declineReasons {
		keys = append(keys, "reason."+string(r))
	}
	for _, u := range []domain.Urgency{domain.UrgencyLow, domain.UrgencyNormal, domain.UrgencyHigh, domain.UrgencyCritical} {
		keys = append(keys, "urgency."+string(u))
	}
	keys = append(keys, "tier.1", "tier.2", "tier.3")
	for _, k := range keys {
		for _, lang := range []string{LangZH, LangEN} {
			if messages[lang][k] == "" {
				t.Errorf("%s has no %s text", k, lang)
			}
		}
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
