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
	Tree       *Tree  `json:"tree"`
}

// Tree is a permission's expression as SpiceDB compiled it (its UsersetRewrite), one node per
// operation or term. Op is union, intersection (Parts), exclusion (Base minus Minus; SpiceDB's
// `a - b - c` is `(a - b) - c`), computed (Name: a relation or permission of the same object), arrow
// (Tupleset->Target; All for `.all(...)`), self or nil. A one-part union or intersection is
// its part.
type Tree struct {
	Op       string  `json:"op"`
	Parts    []*Tree `json:"parts,omitempty"`
	Base     *Tree   `json:"base,omitempty"`
	Minus    *Tree   `json:"minus,omitempty"`
	Name     string  `json:"name,omitempty"`
	Tupleset string  `json:"tupleset,omitempty"`
	Target   string  `json:"target,omitempty"`
	// All is set on every arrow: false for `->` and `.any(...)`.
	All *bool `json:"all,omitempty"`
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
				tree, err := treeOf(relation.UsersetRewrite)
				if err != nil {
					return nil, fmt.Errorf("%s#%s: %w", object.Name, relation.Name, err)
				}
				definition.Permissions = append(definition.Permissions, Permission{
					Name: relation.Name, Comment: commentOf(relation.Metadata), Expression: expression,
					Tree: tree,
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

// treeOf is the compiled rewrite as a Tree.
func treeOf(rewrite *core.UsersetRewrite) (*Tree, error) {
	var op string
	var operation *core.SetOperation
	switch {
	case rewrite.GetUnion() != nil:
		op, operation = "union", rewrite.GetUnion()
	case rewrite.GetIntersection() != nil:
		op, operation = "intersection", rewrite.GetIntersection()
	case rewrite.GetExclusion() != nil:
		op, operation = "exclusion", rewrite.GetExclusion()
	default:
		return nil, fmt.Errorf("a rewrite with no operation")
	}
	parts := []*Tree{}
	for _, child := range operation.Child {
		part, err := childOf(child)
		if err != nil {
			return nil, err
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("a %s with no children", op)
	}
	if op == "exclusion" {
		tree := parts[0]
		for _, minus := range parts[1:] {
			tree = &Tree{Op: op, Base: tree, Minus: minus}
		}
		return tree, nil
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return &Tree{Op: op, Parts: parts}, nil
}

func childOf(child *core.SetOperation_Child) (*Tree, error) {
	switch c := child.ChildType.(type) {
	case *core.SetOperation_Child_XNil:
		return &Tree{Op: "nil"}, nil
	case *core.SetOperation_Child_XSelf:
		return &Tree{Op: "self"}, nil
	case *core.SetOperation_Child_ComputedUserset:
		return &Tree{Op: "computed", Name: c.ComputedUserset.Relation}, nil
	case *core.SetOperation_Child_TupleToUserset:
		return &Tree{
			Op: "arrow", Tupleset: c.TupleToUserset.GetTupleset().GetRelation(),
			Target: c.TupleToUserset.GetComputedUserset().GetRelation(), All: new(bool),
		}, nil
	case *core.SetOperation_Child_FunctionedTupleToUserset:
		f := c.FunctionedTupleToUserset
		var all bool
		switch f.Function {
		case core.FunctionedTupleToUserset_FUNCTION_ANY:
		case core.FunctionedTupleToUserset_FUNCTION_ALL:
			all = true
		default:
			return nil, fmt.Errorf("an arrow function %v", f.Function)
		}
		return &Tree{
			Op: "arrow", Tupleset: f.GetTupleset().GetRelation(),
			Target: f.GetComputedUserset().GetRelation(), All: &all,
		}, nil
	case *core.SetOperation_Child_UsersetRewrite:
		return treeOf(c.UsersetRewrite)
	case *core.SetOperation_Child_XThis:
		// Only a relation's own subjects; the schema language never compiles it into a permission.
		return nil, fmt.Errorf("_this in a permission")
	default:
		return nil, fmt.Errorf("a rewrite child %T", c)
	}
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
