// Command crdref renders the PoetService field reference from the generated CRD into a
// Markdown file (api/v1alpha1/README.md, beside the API types), between the
// poetservice-reference markers, so the documentation never drifts from the API.
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: crdref CRD.yaml README.md")
		os.Exit(2)
	}
	b, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "crdref:", err)
		os.Exit(1)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(b, &crd); err != nil {
		fmt.Fprintln(os.Stderr, "crdref:", err)
		os.Exit(1)
	}
	var out strings.Builder
	v := crd.Spec.Versions[0]
	fmt.Fprintf(&out, "Generated from `%s` by `make manifests` (%s/%s); do not edit.\n\n",
		os.Args[1], crd.Spec.Group, v.Name)
	root := v.Schema.OpenAPIV3Schema
	for _, top := range []string{"spec", "status"} {
		s, ok := root.Properties[top]
		if !ok {
			continue
		}
		fmt.Fprintf(&out, "#### %s\n\n| field | type | default | description |\n|---|---|---|---|\n", top)
		walk(&out, top, s, required(s))
		out.WriteString("\n")
	}
	readme, err := os.ReadFile(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "crdref:", err)
		os.Exit(1)
	}
	const begin, end = "<!-- poetservice-reference:begin -->\n", "<!-- poetservice-reference:end -->"
	i, j := strings.Index(string(readme), begin), strings.Index(string(readme), end)
	if i < 0 || j < i {
		fmt.Fprintln(os.Stderr, "crdref: the README has no poetservice-reference markers")
		os.Exit(1)
	}
	updated := string(readme[:i+len(begin)]) + out.String() + string(readme[j:])
	if err := os.WriteFile(os.Args[2], []byte(updated), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "crdref:", err)
		os.Exit(1)
	}
}

func required(s apiextensionsv1.JSONSchemaProps) map[string]bool {
	m := map[string]bool{}
	for _, r := range s.Required {
		m[r] = true
	}
	return m
}

// walk lists the properties of s under path, descending into objects and list items;
// it stops at embedded Kubernetes types (affinity, tolerations, env) to stay readable.
func walk(out *strings.Builder, path string, s apiextensionsv1.JSONSchemaProps, req map[string]bool) {
	names := make([]string, 0, len(s.Properties))
	for n := range s.Properties {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := s.Properties[n]
		typ := p.Type
		if p.Items != nil && p.Items.Schema != nil {
			typ = "[]" + p.Items.Schema.Type
		}
		if p.XIntOrString {
			typ = "int or string"
		}
		def := ""
		if p.Default != nil {
			def = "`" + string(p.Default.Raw) + "`"
		}
		desc := strings.Join(strings.Fields(p.Description), " ")
		if req[n] {
			desc = "**Required.** " + desc
		}
		if len(desc) > 400 {
			desc = desc[:400] + "…"
		}
		fmt.Fprintf(out, "| `%s.%s` | %s | %s | %s |\n", path, n, typ, def, strings.ReplaceAll(desc, "|", "\\|"))
		if skip[n] {
			continue
		}
		switch {
		case p.Type == "object" && len(p.Properties) > 0:
			walk(out, path+"."+n, p, required(p))
		case p.Items != nil && p.Items.Schema != nil && len(p.Items.Schema.Properties) > 0 && !skip[n]:
			walk(out, path+"."+n+"[]", *p.Items.Schema, required(*p.Items.Schema))
		}
	}
}

var skip = map[string]bool{"affinity": true, "tolerations": true, "extraEnv": true, "conditions": true,
	"imagePullSecrets": true, "serviceKeySecretRef": true}
