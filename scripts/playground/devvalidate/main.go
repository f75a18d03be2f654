// Command devvalidate checks a SpiceDB playground/validation file with SpiceDB's own development
// package: the code `zed validate` and play.authzed.com run. Usage: devvalidate FILE...
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/authzed/spicedb/pkg/development"
	core "github.com/authzed/spicedb/pkg/proto/core/v1"
	devinterface "github.com/authzed/spicedb/pkg/proto/developer/v1"
	"github.com/authzed/spicedb/pkg/validationfile"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: devvalidate FILE...")
		os.Exit(2)
	}
	failed := false
	for _, path := range os.Args[1:] {
		n, err := validate(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			os.Exit(2)
		}
		if n > 0 {
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

func report(path string, errs []*devinterface.DeveloperError) int {
	for _, e := range errs {
		fmt.Printf("%s:%d: %s\n", path, e.Line, e.Message)
	}
	return len(errs)
}

func validate(path string) (int, error) {
	contents, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	file, err := validationfile.DecodeValidationFile(contents)
	if err != nil {
		return 0, err
	}
	relationships := make([]*core.RelationTuple, 0, len(file.Relationships.Relationships))
	for _, r := range file.Relationships.Relationships {
		relationships = append(relationships, r.ToCoreTuple())
	}
	ctx := context.Background()
	devContext, devErrs, err := development.NewDevContext(ctx, &devinterface.RequestContext{
		Schema:        file.Schema.Schema,
		Relationships: relationships,
	})
	if err != nil {
		return 0, err
	}
	if devErrs != nil {
		return report(path, devErrs.InputErrors), nil
	}
	defer devContext.Dispose()
	assertionErrs, err := development.RunAllAssertions(devContext, &file.Assertions)
	if err != nil {
		return 0, err
	}
	_, validationErrs, err := development.RunValidation(devContext, &file.ExpectedRelations)
	if err != nil {
		return 0, err
	}
	failures := report(path, assertionErrs) + report(path, validationErrs)
	fmt.Printf("%s: %d assertions, %d expected-relations entries: %d failures (SpiceDB development package)\n",
		path, len(file.Assertions.AssertTrue)+len(file.Assertions.AssertFalse),
		len(file.ExpectedRelations.ValidationMap), failures)
	return failures, nil
}
