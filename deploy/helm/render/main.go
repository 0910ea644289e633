// Command render prints the manifests of a Helm chart the way `helm template` does.
//
// It uses the engine Helm itself is built on -- Go's text/template with the sprig function
// library -- and adds what Helm adds on top of it: include, tpl, required, toYaml/fromYaml,
// toJson/fromJson, lookup (always empty, as in `helm template`), the .Values / .Release /
// .Chart / .Capabilities / .Template objects, values files and --set, "<no value>" removal,
// and manifests sorted in Helm's install order. It exists so that the chart is rendered by a
// real template engine in the tests of a machine where the helm binary cannot be installed.
//
// Usage:
//
//	render [--name RELEASE] [--namespace NS] [-f values.yaml]... [--set k=v]...
//	       [--set-string k=v]... [--set-json k=JSON]... [--include-crds] CHART_DIR
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"sigs.k8s.io/yaml"
)

// recursionLimit bounds nested include calls, as Helm does, so a looping template fails.
const recursionLimit = 1000

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

type options struct {
	release     string
	namespace   string
	kubeVersion string
	includeCRDs bool
	valueFiles  multiFlag
	sets        multiFlag
	setStrings  multiFlag
	setJSON     multiFlag
	chartDir    string
}

func main() {
	opts, err := parseArgs(os.Args[1:])
	if err == nil {
		err = run(opts, os.Stdout)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		os.Exit(1)
	}
}

func parseArgs(args []string) (options, error) {
	var o options
	fl := flag.NewFlagSet("render", flag.ContinueOnError)
	fl.StringVar(&o.release, "name", "cloudtty", "release name")
	fl.StringVar(&o.namespace, "namespace", "default", "release namespace")
	fl.StringVar(&o.kubeVersion, "kube-version", "v1.30.0", "Kubernetes version for .Capabilities")
	fl.BoolVar(&o.includeCRDs, "include-crds", false, "also print the chart's crds/ files")
	fl.Var(&o.valueFiles, "f", "values file (repeatable)")
	fl.Var(&o.valueFiles, "values", "values file (repeatable)")
	fl.Var(&o.sets, "set", "set values: a.b=c,d=e (repeatable)")
	fl.Var(&o.setStrings, "set-string", "set string values (repeatable)")
	fl.Var(&o.setJSON, "set-json", "set JSON values: a.b=[1,2] (repeatable)")
	// Flags may follow the chart directory, as with helm.
	var positional []string
	for len(args) > 0 {
		if err := fl.Parse(args); err != nil {
			return o, err
		}
		args = fl.Args()
		if len(args) > 0 {
			positional = append(positional, args[0])
			args = args[1:]
		}
	}
	if len(positional) != 1 {
		return o, errors.New("expected exactly one chart directory")
	}
	o.chartDir = positional[0]
	return o, nil
}

func run(o options, out *os.File) error {
	chart, err := readYAMLMap(filepath.Join(o.chartDir, "Chart.yaml"))
	if err != nil {
		return err
	}
	name, _ := chart["name"].(string)
	if name == "" {
		return errors.New("Chart.yaml has no name")
	}
	values, err := readYAMLMap(filepath.Join(o.chartDir, "values.yaml"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if values == nil {
		values = map[string]interface{}{}
	}
	for _, file := range o.valueFiles {
		override, err := readYAMLMap(file)
		if err != nil {
			return err
		}
		values = coalesce(values, override)
	}
	for _, set := range o.sets {
		if err := applySet(values, set, typedValue); err != nil {
			return fmt.Errorf("--set %s: %w", set, err)
		}
	}
	for _, set := range o.setStrings {
		if err := applySet(values, set, func(s string) (interface{}, error) { return s, nil }); err != nil {
			return fmt.Errorf("--set-string %s: %w", set, err)
		}
	}
	for _, set := range o.setJSON {
		if err := applySetJSON(values, set); err != nil {
			return fmt.Errorf("--set-json %s: %w", set, err)
		}
	}
	top := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name": o.release, "Namespace": o.namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Chart":        chartObject(chart),
		"Capabilities": capabilities(o.kubeVersion),
	}
	docs, err := renderTemplates(o.chartDir, name, top)
	if err != nil {
		return err
	}
	if o.includeCRDs {
		crds, err := crdDocuments(o.chartDir, name)
		if err != nil {
			return err
		}
		docs = append(crds, docs...)
	}
	sortByInstallOrder(docs)
	var buf bytes.Buffer
	for _, d := range docs {
		fmt.Fprintf(&buf, "---\n# Source: %s\n%s\n", d.source, d.text)
	}
	_, err = out.Write(buf.Bytes())
	return err
}

// ---------------------------------------------------------------------------- values

func readYAMLMap(file string) (map[string]interface{}, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var m map[string]interface{}
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if m == nil {
		m = map[string]interface{}{}
	}
	return m, nil
}

// coalesce merges override into base as Helm does: maps merge key by key, anything else
// replaces, and a null removes the key.
func coalesce(base, override map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range override {
		if v == nil {
			delete(out, k)
			continue
		}
		bm, bok := out[k].(map[string]interface{})
		om, ook := v.(map[string]interface{})
		if bok && ook {
			out[k] = coalesce(bm, om)
		} else {
			out[k] = v
		}
	}
	return out
}

// splitUnescaped splits s at sep, except where sep is escaped with a backslash.
func splitUnescaped(s string, sep rune) []string {
	var parts []string
	var cur strings.Builder
	escaped := false
	depth := 0
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped = true
		case r == '{':
			depth++
			cur.WriteRune(r)
		case r == '}':
			depth--
			cur.WriteRune(r)
		case r == sep && depth == 0:
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	return append(parts, cur.String())
}

// typedValue reads a --set value as Helm does: integers, booleans and null are typed.
func typedValue(s string) (interface{}, error) {
	if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
		inner := s[1 : len(s)-1]
		list := []interface{}{}
		if inner == "" {
			return list, nil
		}
		for _, item := range splitUnescaped(inner, ',') {
			v, err := typedValue(item)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		return list, nil
	}
	switch s {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil && (s == "0" || !strings.HasPrefix(s, "0")) {
		return i, nil
	}
	return s, nil
}

func applySet(values map[string]interface{}, expr string, parse func(string) (interface{}, error)) error {
	for _, assignment := range splitUnescaped(expr, ',') {
		key, raw, ok := strings.Cut(assignment, "=")
		if !ok || key == "" {
			return fmt.Errorf("%q is not key=value", assignment)
		}
		v, err := parse(raw)
		if err != nil {
			return err
		}
		setPath(values, splitUnescaped(key, '.'), v)
	}
	return nil
}

func applySetJSON(values map[string]interface{}, expr string) error {
	key, raw, ok := strings.Cut(expr, "=")
	if !ok || key == "" {
		return fmt.Errorf("%q is not key=JSON", expr)
	}
	var v interface{}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return err
	}
	setPath(values, splitUnescaped(key, '.'), v)
	return nil
}

func setPath(values map[string]interface{}, keys []string, v interface{}) {
	cur := values
	for _, k := range keys[:len(keys)-1] {
		next, ok := cur[k].(map[string]interface{})
		if !ok {
			next = map[string]interface{}{}
			cur[k] = next
		}
		cur = next
	}
	last := keys[len(keys)-1]
	if v == nil {
		delete(cur, last)
	} else {
		cur[last] = v
	}
}

// ---------------------------------------------------------------------------- built-ins

func chartObject(chart map[string]interface{}) map[string]interface{} {
	// Helm exposes Chart.yaml fields with upper-case initials (.Chart.AppVersion).
	out := map[string]interface{}{}
	for k, v := range chart {
		if k == "apiVersion" {
			out["APIVersion"] = v
			continue
		}
		out[strings.ToUpper(k[:1])+k[1:]] = v
	}
	return out
}

// apiVersions is .Capabilities.APIVersions: `helm template` knows the built-in groups only.
type apiVersions []string

func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

func capabilities(kubeVersion string) map[string]interface{} {
	version := strings.TrimPrefix(kubeVersion, "v")
	parts := strings.SplitN(version, ".", 3)
	minor := ""
	if len(parts) > 1 {
		minor = parts[1]
	}
	return map[string]interface{}{
		"KubeVersion": map[string]interface{}{
			"Version": "v" + version, "GitVersion": "v" + version, "Major": parts[0], "Minor": minor,
		},
		"APIVersions": apiVersions{
			"v1", "apps/v1", "batch/v1", "policy/v1", "networking.k8s.io/v1",
			"rbac.authorization.k8s.io/v1", "coordination.k8s.io/v1",
			"apiextensions.k8s.io/v1", "admissionregistration.k8s.io/v1",
		},
	}
}

func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromYAMLArray(s string) []interface{} {
	var a []interface{}
	if err := yaml.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(s string) []interface{} {
	var a []interface{}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func required(warn string, v interface{}) (interface{}, error) {
	if v == nil {
		return v, errors.New(warn)
	}
	if s, ok := v.(string); ok && s == "" {
		return v, errors.New(warn)
	}
	return v, nil
}

// funcMap is sprig's text functions without environment access, plus Helm's own.
func funcMap(root **template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	included := map[string]int{}
	extra := template.FuncMap{
		"toYaml":        toYAML,
		"fromYaml":      fromYAML,
		"fromYamlArray": fromYAMLArray,
		"toJson":        toJSON,
		"fromJson":      fromJSON,
		"fromJsonArray": fromJSONArray,
		"required":      required,
		"lookup": func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
			return map[string]interface{}{}, nil
		},
		"include": func(name string, data interface{}) (string, error) {
			if included[name] > recursionLimit {
				return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
			}
			included[name]++
			defer func() { included[name]-- }()
			var buf strings.Builder
			err := (*root).ExecuteTemplate(&buf, name, data)
			return buf.String(), err
		},
		"tpl": func(text string, data interface{}) (string, error) {
			clone, err := (*root).Clone()
			if err != nil {
				return "", err
			}
			t, err := clone.New("tpl").Option("missingkey=zero").Parse(text)
			if err != nil {
				return "", fmt.Errorf("cannot parse template %q: %w", text, err)
			}
			var buf strings.Builder
			if err := t.Execute(&buf, data); err != nil {
				return "", fmt.Errorf("error during tpl function execution for %q: %w", text, err)
			}
			return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
		},
	}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

// ---------------------------------------------------------------------------- rendering

type document struct {
	source string
	text   string
	kind   string
}

func renderTemplates(chartDir, chartName string, top map[string]interface{}) ([]document, error) {
	base := filepath.Join(chartDir, "templates")
	var files []string
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var root *template.Template
	root = template.New(chartName).Funcs(funcMap(&root)).Option("missingkey=zero")
	names := make([]string, 0, len(files))
	for _, file := range files {
		rel, _ := filepath.Rel(base, file)
		name := path.Join(chartName, "templates", filepath.ToSlash(rel))
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		if _, err := root.New(name).Parse(string(data)); err != nil {
			return nil, fmt.Errorf("parse error in %q: %w", name, err)
		}
		names = append(names, name)
	}
	var docs []document
	for _, name := range names {
		base := path.Base(name)
		if strings.HasPrefix(base, "_") || strings.EqualFold(base, "NOTES.txt") {
			continue
		}
		vals := map[string]interface{}{}
		for k, v := range top {
			vals[k] = v
		}
		vals["Template"] = map[string]interface{}{
			"Name": name, "BasePath": path.Join(chartName, "templates"),
		}
		var buf strings.Builder
		if err := root.ExecuteTemplate(&buf, name, vals); err != nil {
			return nil, fmt.Errorf("execution error in %q: %w", name, err)
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		split, err := splitManifests(name, text)
		if err != nil {
			return nil, err
		}
		docs = append(docs, split...)
	}
	return docs, nil
}

func crdDocuments(chartDir, chartName string) ([]document, error) {
	files, err := filepath.Glob(filepath.Join(chartDir, "crds", "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var docs []document
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		split, err := splitManifests(path.Join(chartName, "crds", filepath.Base(file)), string(data))
		if err != nil {
			return nil, err
		}
		docs = append(docs, split...)
	}
	return docs, nil
}

var separator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitManifests cuts a rendered file into its YAML documents and drops empty ones; each must
// be a mapping with a kind, as Helm requires.
func splitManifests(source, text string) ([]document, error) {
	var docs []document
	for _, part := range separator.Split(text, -1) {
		if strings.TrimSpace(stripComments(part)) == "" {
			continue
		}
		var head struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(part), &head); err != nil {
			return nil, fmt.Errorf("YAML parse error in %s: %w", source, err)
		}
		if head.Kind == "" {
			return nil, fmt.Errorf("%s: a document has no kind", source)
		}
		docs = append(docs, document{source: source, text: strings.Trim(part, "\n"), kind: head.Kind})
	}
	return docs, nil
}

func stripComments(text string) string {
	var kept []string
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "\n")
}

// installOrder is Helm's (pkg/releaseutil/kind_sorter.go): kinds others depend on come first.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
	"PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
	"ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
	"CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
	"ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
	"DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
	"APIService",
}

func sortByInstallOrder(docs []document) {
	rank := map[string]int{}
	for i, k := range installOrder {
		rank[k] = i
	}
	position := func(kind string) int {
		if r, ok := rank[kind]; ok {
			return r
		}
		return len(installOrder) // unknown kinds (custom resources) last
	}
	sort.SliceStable(docs, func(i, j int) bool {
		return position(docs[i].kind) < position(docs[j].kind)
	})
}
