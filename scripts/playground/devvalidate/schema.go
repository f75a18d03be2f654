package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	caveattypes "github.com/authzed/spicedb/pkg/caveats/types"
	"github.com/authzed/spicedb/pkg/development"
	"github.com/authzed/spicedb/pkg/namespace"
	core "github.com/authzed/spicedb/pkg/proto/core/v1"
	devinterface "github.com/authzed/spicedb/pkg/proto/developer/v1"
	iv1 "github.com/authzed/spicedb/pkg/proto/impl/v1"
	"github.com/authzed/spicedb/pkg/schemadsl/generator"
)

// Why the schema is read here and not through the server's ReflectSchema: ReflectSchema (API
// v1 as authzed-node 1.6 and SpiceDB 1.56.2 speak it) names permissions but not their
// expressions, and names subject types but not the expiration trait. The development package
// compiles the schema with the compiler WriteSchema runs and checks its type system the same
// way, and SpiceDB's own schema generator prints each permission's expression: one source for
// all of it.

// SubjectType is one allowed subject type of a relation, e.g. `team#member with caveat`.
type SubjectType struct {
	Type string `json:"type"`
	// Relation is the subject relation (`member` of `team#member`); absent for a plain object.
	Relation   string `json:"relation,omitempty"`
	Wildcard   bool   `json:"wildcard,omitempty"`
	Caveat     string `json:"caveat,omitempty"`
	Expiration bool   `json:"expiration,omitempty"`
}

type Relation struct {
	Name         string        `json:"name"`
	Comment      string        `json:"comment"`
	SubjectTypes []SubjectType `json:"subjectTypes"`
}

type Permission struct {
	Name       string `json:"name"`
	Comment    string `json:"comment"`
	Expression string `json:"expression"`
}

type Definition struct {
	Name        string       `json:"name"`
	Comment     string       `json:"comment"`
	Relations   []Relation   `json:"relations"`
	Permissions []Permission `json:"permissions"`
}

type CaveatParameter struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

type Caveat struct {
	Name       string            `json:"name"`
	Comment    string            `json:"comment"`
	Parameters []CaveatParameter `json:"parameters"`
}

type Schema struct {
	Definitions []Definition `json:"definitions"`
	Caveats     []Caveat     `json:"caveats"`
}

func printSchema(path string) int {
	text, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
		return 2
	}
	dev, devErrs, err := development.NewDevContext(context.Background(),
		&devinterface.RequestContext{Schema: string(text)},
		development.WithSourceFS(os.DirFS(filepath.Dir(path))))
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
		return 2
	}
	if devErrs != nil {
		for _, e := range devErrs.InputErrors {
			fmt.Fprintf(os.Stderr, "%s:%d:%d: %s\n", path, e.Line, e.Column, e.Message)
		}
		return 1
	}
	defer dev.Dispose()
	schema, err := describe(dev.CompiledSchema.ObjectDefinitions, dev.CompiledSchema.CaveatDefinitions)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
		return 2
	}
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	if err := out.Encode(schema); err != nil {
		return 2
	}
	return 0
}

func describe(objects []*core.NamespaceDefinition, caveats []*core.CaveatDefinition) (*Schema, error) {
	schema := &Schema{Definitions: []Definition{}, Caveats: []Caveat{}}
	for _, object := range objects {
		definition := Definition{
			Name: object.Name, Comment: commentOf(object.Metadata),
			Relations: []Relation{}, Permissions: []Permission{},
		}
		for _, relation := range object.Relation {
			if namespace.GetRelationKind(relation) == iv1.RelationMetadata_PERMISSION {
				expression, err := expressionOf(relation)
				if err != nil {
					return nil, fmt.Errorf("%s#%s: %w", object.Name, relation.Name, err)
				}
				definition.Permissions = append(definition.Permissions, Permission{
					Name: relation.Name, Comment: commentOf(relation.Metadata), Expression: expression,
				})
				continue
			}
			definition.Relations = append(definition.Relations, Relation{
				Name: relation.Name, Comment: commentOf(relation.Metadata),
				SubjectTypes: subjectTypesOf(relation),
			})
		}
		schema.Definitions = append(schema.Definitions, definition)
	}
	for _, caveat := range caveats {
		parameters, err := caveattypes.DecodeParameterTypes(caveattypes.Default.TypeSet, caveat.ParameterTypes)
		if err != nil {
			return nil, fmt.Errorf("caveat %s: %w", caveat.Name, err)
		}
		described := Caveat{Name: caveat.Name, Comment: commentOf(caveat.Metadata), Parameters: []CaveatParameter{}}
		for name, parameterType := range parameters {
			described.Parameters = append(described.Parameters, CaveatParameter{Name: name, Type: parameterType.String()})
		}
		sort.Slice(described.Parameters, func(i, j int) bool {
			return described.Parameters[i].Name < described.Parameters[j].Name
		})
		schema.Caveats = append(schema.Caveats, described)
	}
	return schema, nil
}

func subjectTypesOf(relation *core.Relation) []SubjectType {
	types := []SubjectType{}
	for _, allowed := range relation.GetTypeInformation().GetAllowedDirectRelations() {
		subject := SubjectType{
			Type:       allowed.Namespace,
			Wildcard:   allowed.GetPublicWildcard() != nil,
			Expiration: allowed.GetRequiredExpiration() != nil,
		}
		if name := allowed.GetRelation(); name != "" && name != generator.Ellipsis {
			subject.Relation = name
		}
		if caveat := allowed.GetRequiredCaveat(); caveat != nil {
			subject.Caveat = caveat.CaveatName
		}
		types = append(types, subject)
	}
	return types
}

// expressionOf prints the permission with SpiceDB's schema generator and keeps what follows
// `permission NAME = `: the expression exactly as SpiceDB writes it back.
func expressionOf(relation *core.Relation) (string, error) {
	bare := &core.Relation{Name: relation.Name, UsersetRewrite: relation.UsersetRewrite}
	source, err := generator.GenerateRelationSource(bare, caveattypes.Default.TypeSet)
	if err != nil {
		return "", err
	}
	expression, found := strings.CutPrefix(strings.TrimSpace(source), "permission "+relation.Name+" = ")
	if !found {
		return "", fmt.Errorf("the generator wrote %q", source)
	}
	return expression, nil
}

var commentDecoration = regexp.MustCompile(`(?m)^\s*(/\*\*?|\*/|\*|//)\s?`)

// commentOf is the doc comment's text without its delimiters, on one line.
func commentOf(metadata *core.Metadata) string {
	parts := []string{}
	for _, comment := range namespace.GetComments(metadata) {
		text := strings.TrimSuffix(strings.TrimSpace(comment), "*/")
		text = commentDecoration.ReplaceAllString(text, "")
		parts = append(parts, strings.Join(strings.Fields(text), " "))
	}
	return strings.TrimSpace(strings.Join(parts, " "))
}
