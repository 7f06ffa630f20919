package httpapi

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestEveryProblemTypeIsDocumented reads the package's source for every problem
// type it can answer with (the kind given to newProblem, which must be a string
// literal so that none escapes this test) and fails when docs/problems.md has no
// section for one, or has a section for a type the API no longer answers with.
func TestEveryProblemTypeIsDocumented(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{} // kind → where it is first made
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if id, ok := call.Fun.(*ast.Ident); !ok || id.Name != "newProblem" || len(call.Args) < 2 {
				return true
			}
			lit, ok := call.Args[1].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Errorf("%s: the problem type is not a string literal: this test cannot see it", fset.Position(call.Pos()))
				return true
			}
			kind, _ := strconv.Unquote(lit.Value)
			if _, seen := kinds[kind]; !seen {
				kinds[kind] = fset.Position(call.Pos()).String()
			}
			return true
		})
	}
	if len(kinds) < 10 {
		t.Fatalf("found only %d problem types: %v", len(kinds), kinds)
	}
	doc, err := os.ReadFile("../../docs/problems.md")
	if err != nil {
		t.Fatal(err)
	}
	var sections []string
	for _, line := range strings.Split(string(doc), "\n") {
		if s, ok := strings.CutPrefix(line, "## "); ok {
			sections = append(sections, strings.TrimSpace(s))
		}
	}
	for kind, at := range kinds {
		if !slices.Contains(sections, kind) {
			t.Errorf("problem type %q (%s) has no section \"## %s\" in docs/problems.md", kind, at, kind)
		}
	}
	for _, s := range sections {
		if _, ok := kinds[s]; !ok {
			t.Errorf("docs/problems.md has a section %q, which is no problem type the API answers with", s)
		}
	}
}
