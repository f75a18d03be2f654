// Command devvalidate is SpiceDB v1.56.2's own development package (the code `zed validate` and
// play.authzed.com run) behind a small command line, for where the zed CLI cannot be installed.
//
//	devvalidate FILE...              validate playground/validation files; FILE:LINE:COL: message
//	devvalidate --json FILE          the same for one file, as one JSON object
//	devvalidate expected FILE        the expected relations SpiceDB computes for each key of FILE's
//	                                 `validation` block, as the playground's "regenerate" (and
//	                                 `zed validate --update`) writes them, as JSON
//	devvalidate schema SCHEMA.zed    the compiled schema as JSON (definitions, relations with their
//	                                 allowed subject types, permissions with their expression and
//	                                 doc comment, caveats): the input of `npm run schema:gen`
//
// Exit status: 0 when SpiceDB accepts everything, 1 when it reports errors, 2 on usage or I/O
// errors.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/authzed/spicedb/pkg/development"
	devinterface "github.com/authzed/spicedb/pkg/proto/developer/v1"
	"github.com/authzed/spicedb/pkg/spiceerrors"
	"github.com/authzed/spicedb/pkg/validationfile"
	"go.yaml.in/yaml/v3"
)

func main() {
	args := os.Args[1:]
	switch {
	case len(args) == 2 && args[0] == "schema":
		os.Exit(printSchema(args[1]))
	case len(args) == 2 && args[0] == "--json":
		os.Exit(printJSON(args[1]))
	case len(args) == 2 && args[0] == "expected":
		os.Exit(printExpected(args[1]))
	case len(args) >= 1 && args[0] != "schema" && args[0] != "--json" && args[0] != "expected":
		os.Exit(printText(args))
	default:
		fmt.Fprintln(os.Stderr, "usage: devvalidate FILE... | devvalidate --json FILE | devvalidate expected FILE | devvalidate schema SCHEMA.zed")
		os.Exit(2)
	}
}

// Problem is one error or warning SpiceDB reports, at its 1-based line (0: no position).
type Problem struct {
	Line    uint32 `json:"line"`
	Column  uint32 `json:"column"`
	Message string `json:"message"`
	// Source is the part of the file: SCHEMA, RELATIONSHIP, ASSERTION, VALIDATION_YAML, ...
	Source string `json:"source"`
	// Kind is SpiceDB's error kind (PARSE_ERROR, ASSERTION_FAILED, ...), or WARNING.
	Kind    string `json:"kind"`
	Context string `json:"context,omitempty"`
}

// Report is the verdict on one validation file.
type Report struct {
	File              string    `json:"file"`
	Errors            []Problem `json:"errors"`
	Warnings          []Problem `json:"warnings"`
	Assertions        int       `json:"assertions"`
	ExpectedRelations int       `json:"expectedRelations"`
	Relationships     int       `json:"relationships"`
}

func problemOf(e *devinterface.DeveloperError) Problem {
	return Problem{
		Line: e.Line, Column: e.Column, Message: e.Message,
		Source: e.Source.String(), Kind: e.Kind.String(), Context: e.Context,
	}
}

// validateFile runs what `zed validate` runs: decode, load schema and relationships (a schemaFile
// is read relative to the file), assertions, expected relations, warnings.
func validateFile(path string) (*Report, error) {
	contents, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	report := &Report{File: path, Errors: []Problem{}, Warnings: []Problem{}}
	file, err := validationfile.DecodeValidationFile(contents)
	if err != nil {
		return withDecodeError(report, err)
	}
	report.Assertions = len(file.Assertions.AssertTrue) + len(file.Assertions.AssertCaveated) +
		len(file.Assertions.AssertFalse)
	report.ExpectedRelations = len(file.ExpectedRelations.ValidationMap)
	report.Relationships = len(file.Relationships.Relationships)
	if file.Schema.Schema != "" && file.SchemaFile != "" {
		report.Errors = append(report.Errors, Problem{
			Message: "only one of schema or schemaFile can be specified", Source: "SCHEMA", Kind: "PARSE_ERROR",
		})
		return report, nil
	}
	if file.Schema.Schema == "" && file.SchemaFile == "" {
		report.Errors = append(report.Errors, Problem{
			Message: "the file has no schema (a `schema` or `schemaFile` key)", Source: "SCHEMA", Kind: "PARSE_ERROR",
		})
		return report, nil
	}
	ctx := context.Background()
	dev, devErrs, err := development.NewDevContextForValidationFile(ctx, file,
		development.WithSourceFS(besideFile(path)))
	if err != nil {
		return nil, err
	}
	if devErrs != nil {
		for _, e := range devErrs.InputErrors {
			report.Errors = append(report.Errors, problemOf(e))
		}
		return report, nil
	}
	defer dev.DevContext.Dispose()
	assertionErrs, err := development.RunAllAssertions(dev.DevContext, &dev.Assertions)
	if err != nil {
		return nil, err
	}
	_, validationErrs, err := development.RunValidation(dev.DevContext, &dev.ExpectedRelations)
	if err != nil {
		return nil, err
	}
	for _, e := range append(assertionErrs, validationErrs...) {
		report.Errors = append(report.Errors, problemOf(e))
	}
	// The expected relations are a map SpiceDB ranges over: in the file's order, for a stable report.
	sort.SliceStable(report.Errors, func(i, j int) bool { return report.Errors[i].Line < report.Errors[j].Line })
	warnings, err := development.GetWarnings(ctx, dev.DevContext)
	if err != nil {
		return nil, err
	}
	// Warnings are positioned in the schema text; an inline schema starts further down the file.
	offset := uint32(0)
	if file.SchemaFile == "" {
		offset = uint32(file.Schema.SourcePosition.LineNumber)
	}
	for _, w := range warnings {
		report.Warnings = append(report.Warnings, Problem{
			Line: w.Line + offset, Column: w.Column, Message: w.Message, Source: "SCHEMA", Kind: "WARNING", Context: w.SourceCode,
		})
	}
	return report, nil
}

// withDecodeError turns a YAML or block parse error into SpiceDB's positioned message.
func withDecodeError(report *Report, err error) (*Report, error) {
	problem := Problem{Message: err.Error(), Source: "VALIDATION_YAML", Kind: "PARSE_ERROR"}
	var withSource *spiceerrors.WithSourceError
	if errors.As(err, &withSource) {
		problem.Line = uint32(withSource.LineNumber)
		problem.Column = uint32(withSource.ColumnPosition)
		problem.Context = withSource.SourceCodeString
	}
	report.Errors = append(report.Errors, problem)
	return report, nil
}

func printJSON(path string) int {
	report, err := validateFile(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
		return 2
	}
	if err := json.NewEncoder(os.Stdout).Encode(report); err != nil {
		return 2
	}
	if len(report.Errors) > 0 {
		return 1
	}
	return 0
}

func printText(paths []string) int {
	status := 0
	for _, path := range paths {
		report, err := validateFile(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			return 2
		}
		for _, p := range report.Errors {
			fmt.Printf("%s:%d: %s\n", path, p.Line, p.Message)
		}
		for _, p := range report.Warnings {
			fmt.Printf("%s:%d: warning: %s\n", path, p.Line, p.Message)
		}
		fmt.Printf("%s: %d assertions, %d expected-relations entries: %d failures (SpiceDB development package)\n",
			path, report.Assertions, report.ExpectedRelations, len(report.Errors))
		if len(report.Errors) > 0 {
			status = 1
		}
	}
	return status
}

// Expected is what `devvalidate expected` prints: per key of the validation block, the expected
// subjects as SpiceDB's GenerateValidation writes them (`[user:a] is <doc:1#viewer>`), and the
// subjects alone (`user:a`, `team:t#member`, `user:b[...]` when caveated).
type Expected struct {
	File       string              `json:"file"`
	Errors     []Problem           `json:"errors"`
	Validation map[string][]string `json:"validation"`
	Subjects   map[string][]string `json:"subjects"`
}

// expectedOf loads FILE as validateFile does and expands every key of its validation block
// (their listed subjects do not matter). Errors are those that stop the file from loading.
func expectedOf(path string) (*Expected, error) {
	contents, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := &Expected{File: path, Errors: []Problem{}, Validation: map[string][]string{}, Subjects: map[string][]string{}}
	file, err := validationfile.DecodeValidationFile(contents)
	if err != nil {
		report, _ := withDecodeError(&Report{}, err)
		out.Errors = report.Errors
		return out, nil
	}
	dev, devErrs, err := development.NewDevContextForValidationFile(context.Background(), file,
		development.WithSourceFS(besideFile(path)))
	if err != nil {
		return nil, err
	}
	if devErrs != nil {
		for _, e := range devErrs.InputErrors {
			out.Errors = append(out.Errors, problemOf(e))
		}
		return out, nil
	}
	defer dev.DevContext.Dispose()
	membership, _, err := development.RunValidation(dev.DevContext, &dev.ExpectedRelations)
	if err != nil {
		return nil, err
	}
	generated, err := development.GenerateValidation(membership)
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal([]byte(generated), &out.Validation); err != nil {
		return nil, err
	}
	for onr, found := range membership.SubjectsByONR() {
		subjects := []string{}
		for _, subject := range found.ListFound() {
			subjects = append(subjects, subject.ToValidationString())
		}
		sort.Strings(subjects)
		out.Subjects[onr] = subjects
	}
	for onr := range out.Subjects {
		if out.Validation[onr] == nil {
			out.Validation[onr] = []string{}
		}
	}
	return out, nil
}

func printExpected(path string) int {
	expected, err := expectedOf(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
		return 2
	}
	if err := json.NewEncoder(os.Stdout).Encode(expected); err != nil {
		return 2
	}
	if len(expected.Errors) > 0 {
		return 1
	}
	return 0
}

// besideFile resolves a schemaFile (and the schema's imports) relative to the validation
// file's directory, as `zed validate` does: `./schema.zed` and `../schema.zed` included, which
// os.DirFS refuses.
type besideFile string

func (b besideFile) Open(name string) (fs.File, error) {
	return os.Open(filepath.Join(filepath.Dir(string(b)), filepath.FromSlash(name)))
}
