// Command validate checks rendered Kubernetes manifests (the output of `kustomize build`) against
// the real Kubernetes API types and Bilet's house rules, without a cluster.
//
// Every document is decoded strictly into the typed object of its apiVersion/kind, as the API
// server's strict field validation would: unknown or misspelt fields, duplicate keys, wrong types
// and malformed quantities fail. Then the house rules (rules.go) run over the whole set.
//
// Usage: kustomize build deploy/k8s/overlays/production | validate [-services a,b] [-uid N] [file ...]
//
// Prints one line per object ("Kind namespace/name") on stdout; problems on stderr; exit status 1
// when there is any problem, 2 on a usage error.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// The kinds the suite is made of. Anything else is a mistake until a rule for it is written here.
var allowedKinds = map[schema.GroupVersionKind]bool{
	{Version: "v1", Kind: "ConfigMap"}:                                     true,
	{Version: "v1", Kind: "Namespace"}:                                     true,
	{Version: "v1", Kind: "Service"}:                                       true,
	{Version: "v1", Kind: "ServiceAccount"}:                                true,
	{Group: "apps", Version: "v1", Kind: "Deployment"}:                     true,
	{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}:           true,
	{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}:     true,
	{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"}:          true,
	{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler"}: true,
	{Group: "batch", Version: "v1", Kind: "CronJob"}:                       true,
	strimziV1beta2.WithKind("KafkaTopic"):                                  true,
	monitoringV1.WithKind("PodMonitor"):                                    true,
	monitoringV1.WithKind("PrometheusRule"):                                true,
	strimziV1beta2.WithKind("Kafka"):                                       true,
	strimziV1beta2.WithKind("KafkaNodePool"):                               true,
	cnpgV1.WithKind("Cluster"):                                             true,
	kedaV1alpha1.WithKind("ScaledObject"):                                  true,
	kedaV1alpha1.WithKind("TriggerAuthentication"):                         true,
}

// object is one decoded document.
type object struct {
	gvk  schema.GroupVersionKind
	obj  runtime.Object
	meta metav1.Object
}

func (o *object) id() string {
	ns := o.meta.GetNamespace()
	if ns == "" {
		ns = "(no namespace)"
	}
	return fmt.Sprintf("%s %s/%s", o.gvk.Kind, ns, o.meta.GetName())
}

// problems collects what is wrong, each line naming the object it is about.
type problems []string

func (p *problems) add(o *object, format string, args ...any) {
	where := "manifests"
	if o != nil {
		where = o.id()
	}
	*p = append(*p, where+": "+fmt.Sprintf(format, args...))
}

func newDecoder() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, networkingv1.AddToScheme,
		policyv1.AddToScheme, autoscalingv2.AddToScheme, batchv1.AddToScheme, addStrimziToScheme,
		addMonitoringToScheme, addOperatorsToScheme,
	} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	// Strict: unknown fields and duplicate keys are errors, as with `kubectl apply
	// --validate=strict`. No defaulting: the rules see exactly what is written.
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}

// decode splits a multi-document YAML stream and decodes each document strictly.
func decode(r io.Reader, source string, out *[]*object, p *problems) {
	decoder := newDecoder()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	for n := 1; ; n++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			p.add(nil, "%s: document %d: %v", source, n, err)
			return
		}
		asJSON, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			p.add(nil, "%s: document %d is not valid YAML: %v", source, n, err)
			continue
		}
		if s := string(bytes.TrimSpace(asJSON)); s == "null" || s == "" {
			continue // an empty document between separators
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil || tm.APIVersion == "" || tm.Kind == "" {
			p.add(nil, "%s: document %d has no apiVersion and kind", source, n)
			continue
		}
		gvk := schema.FromAPIVersionAndKind(tm.APIVersion, tm.Kind)
		if gvk.Kind == "Secret" {
			p.add(nil, "%s: document %d is a Secret: secrets are never committed or rendered; "+
				"create them out of band and reference them (secretKeyRef)", source, n)
			continue
		}
		if !allowedKinds[gvk] {
			p.add(nil, "%s: document %d: unknown or unexpected kind %s %s (allowed: %s)",
				source, n, tm.APIVersion, tm.Kind, allowedList())
			continue
		}
		obj, _, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			name := gvk.Kind
			if m, mErr := meta.Accessor(obj); mErr == nil && obj != nil {
				name = fmt.Sprintf("%s %s", gvk.Kind, m.GetName())
			}
			p.add(nil, "%s: document %d (%s) does not match the Kubernetes API: %v",
				source, n, name, err)
			// A strict error (unknown field, duplicate key) still yields the typed object:
			// keep it, so the rules about everything else still run and nothing cascades.
			if !runtime.IsStrictDecodingError(err) || obj == nil {
				continue
			}
		}
		m, err := meta.Accessor(obj)
		if err != nil {
			p.add(nil, "%s: document %d: %v", source, n, err)
			continue
		}
		o := &object{gvk: gvk, obj: obj, meta: m}
		if m.GetName() == "" {
			p.add(o, "metadata.name is required")
		}
		*out = append(*out, o)
	}
}

func allowedList() string {
	var names []string
	for gvk := range allowedKinds {
		names = append(names, gvk.GroupVersion().String()+" "+gvk.Kind)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func main() {
	services := flag.String("services", "",
		"comma-separated service names that must each have a Deployment, Service, "+
			"ServiceAccount and ingress route")
	uid := flag.Int64("uid", 0, "the numeric user every pod must run as (the images' USER)")
	flag.Parse()

	var objects []*object
	var p problems
	if flag.NArg() == 0 {
		decode(os.Stdin, "stdin", &objects, &p)
	}
	for _, path := range flag.Args() {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		decode(f, path, &objects, &p)
		_ = f.Close()
	}
	if len(objects) == 0 && len(p) == 0 {
		p.add(nil, "no objects to validate")
	} else {
		var names []string
		if *services != "" {
			names = strings.Split(*services, ",")
		}
		checkAll(objects, rules{services: names, uid: *uid}, &p)
	}

	for _, o := range objects {
		fmt.Println(o.id())
	}
	if len(p) > 0 {
		for _, line := range p {
			fmt.Fprintln(os.Stderr, line)
		}
		fmt.Fprintf(os.Stderr, "%d problem(s) in %d object(s)\n", len(p), len(objects))
		os.Exit(1)
	}
}
