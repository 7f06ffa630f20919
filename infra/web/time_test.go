package web

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tierlink/tierlink/projections"
)

// TestEveryTimeShownIsTheDistricts checks that the pages show people every time
// in the district's time zone (DESIGN.md, "Time"), while a <time> element's
// datetime attribute keeps the stored instant: every time a template formats for
// reading goes through local, and a step's deadline reads in it. The pages showed
// UTC: an answer due at 16:00 in Shanghai read "08:00".
func TestEveryTimeShownIsTheDistricts(t *testing.T) {
	formatted := regexp.MustCompile(`\{\{([^{}]*)\.Format "([^"]*)"\}\}`)
	err := fs.WalkDir(templateFiles, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := templateFiles.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range formatted.FindAllStringSubmatch(string(b), -1) {
			machine := strings.Contains(m[2], "T15:04:05Z07:00") // a datetime attribute
			if !machine && !strings.HasPrefix(strings.TrimSpace(m[1]), "(local ") {
				t.Errorf("%s shows a time not in the district's zone: %s", path, m[0])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	due := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC) // 16:00 in Shanghai
	if got := local(due).Format("15:04"); got != "16:00" {
		t.Errorf("08:00 UTC reads %s in the district, want 16:00", got)
	}
	if _, off := local(due).Zone(); off != 8*3600 || projections.Zone == nil {
		t.Errorf("the district's zone is %d s from UTC", off)
	}
	step := projections.Step{What: "referral_proposed", Tier: 2, Rule: "best-candidate-at-tier", Candidates: 1, Due: &due}
	for _, lang := range []string{LangZH, LangEN} {
		if text := stepText(lang, step); !strings.Contains(text, "12-02 16:00") {
			t.Errorf("a proposal due 08:00 UTC reads %q in %s", text, lang)
		}
	}
}
