package main

// The house rules, as code. Each rule says why in its message, so a failing render tells the
// author what to change. Rules that look across objects (a Service must select pods, an ingress
// must reach a Service port, a probe must name a container port) catch what the API server would
// accept and the cluster would then silently get wrong.

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

type rules struct {
	services []string // every one needs a Deployment, Service, ServiceAccount and ingress route
	uid      int64    // the images' numeric user; 0 when not given
}

const (
	labelName      = "app.kubernetes.io/name"
	labelComponent = "app.kubernetes.io/component"
	labelPartOf    = "app.kubernetes.io/part-of"
	// A Deployment whose process serves no HTTP says why it has no probes, in this annotation.
	annotationProbesExempt = "validate.bilet/probes-exempt"
)

// Environment variables that carry secrets: they may only come from a Secret.
var secretEnvNames = map[string]bool{
	"BVB_DATABASE_URL": true, "BVB_MASTER_KEY": true, "BVB_KEY_STORE_URL": true,
	"BVB_RELAY_STORE": true, "BVB_KURRENTDB_URL": true,
}

func looksSecret(name string) bool {
	upper := strings.ToUpper(name)
	if strings.HasSuffix(upper, "_FILE") {
		return false // names where a secret is mounted (checkKafkaClient), not the secret
	}
	return secretEnvNames[upper] || strings.Contains(upper, "PASSWORD") ||
		strings.Contains(upper, "SECRET") || strings.HasSuffix(upper, "_KEY") ||
		strings.HasSuffix(upper, "_TOKEN")
}

// What each kind of Bilet process needs in its environment to start in production
// (bilet.settings.PlatformSettings, bilet.http.service.token_verifier_from, bilet.relay.settings):
// an HTTP API, a relay (`python -m bilet.relay`, its store's URL in BVB_RELAY_STORE) or a
// projection worker (`python -m bilet_<service>.worker`, its read model at BVB_DATABASE_URL).
var requiredEnv = map[string][]string{
	"api": {"BVB_ENVIRONMENT", "BVB_JWT_ISSUER", "BVB_JWT_AUDIENCE", "BVB_JWKS_URL",
		"BVB_KAFKA_BOOTSTRAP", "BVB_DATABASE_URL", "BVB_EVENT_STORE"},
	"relay":  {"BVB_ENVIRONMENT", "BVB_KAFKA_BOOTSTRAP", "BVB_RELAY_STORE"},
	"worker": {"BVB_ENVIRONMENT", "BVB_KAFKA_BOOTSTRAP", "BVB_DATABASE_URL", "BVB_EVENT_STORE"},
	// An operation started as a Job (jobs.go): a rebuild reads Kafka into its read model.
	"job": {"BVB_ENVIRONMENT", "BVB_KAFKA_BOOTSTRAP", "BVB_DATABASE_URL"},
}

// The suite's one key store of per-participant data keys (bilet.stores.open_key_store) and the
// master key that wraps them. Only the APIs that seal or open personal fields hold them, and the
// recommender's worker, which opens a pupil's accessibility needs with their health key while a
// consent covers health data (ADR 0038); every other process (the other APIs, the projection
// workers, which keep sealed envelopes only, and the relays) must not, so that a compromise of
// one of those reads no personal data.
var (
	keyHolders = []string{"identity", "consent", "diagnostics", "events", "portfolio"}
	// Workers that hold the keys as well, by service.
	keyHoldingWorkers = []string{"recommender"}
	keyEnv            = []string{"BVB_MASTER_KEY", "BVB_KEY_STORE_URL"}
	// The Secrets behind them: a variable renamed or a Secret mounted as a volume is caught too.
	keySecrets = []string{"bilet-master-key", "bilet-keys-database"}
)

func holdsKeys(service, component string) bool {
	return component == "api" && slices.Contains(keyHolders, service) ||
		component == "worker" && slices.Contains(keyHoldingWorkers, service)
}

func holderList() string {
	last := len(keyHolders) - 1
	return strings.Join(keyHolders[:last], ", ") + " and " + keyHolders[last] +
		" (and the worker of " + strings.Join(keyHoldingWorkers, ", ") + ")"
}

// Where a process keeps what it stores (bilet.stores): in production always PostgreSQL, or for
// the events KurrentDB (component kurrentdb-event-store, ADR 0058). The root filesystem is
// read-only and a pod's disk is not kept, so SQLite files under var/ cannot work.
var storeKindEnv = []struct {
	name    string
	allowed []string
}{
	{"BVB_EVENT_STORE", []string{"postgres", "kurrentdb"}},
	{"BVB_READ_MODEL", []string{"postgres"}},
	{"BVB_KEY_STORE", []string{"postgres"}},
}

func key(namespace, name string) string { return namespace + "/" + name }

// index is the rendered set, looked up by namespace/name.
type index struct {
	deployments     []*object
	deploymentByKey map[string]*appsv1.Deployment
	services        map[string]*corev1.Service
	serviceAccounts map[string]*corev1.ServiceAccount
	configMaps      map[string]*corev1.ConfigMap
	hpaByTarget     map[string]*autoscalingv2.HorizontalPodAutoscaler
	policies        map[string][]*networkingv1.NetworkPolicy // by namespace
	ingresses       []*networkingv1.Ingress
}

func buildIndex(objects []*object, p *problems) *index {
	ix := &index{
		deploymentByKey: map[string]*appsv1.Deployment{},
		services:        map[string]*corev1.Service{},
		serviceAccounts: map[string]*corev1.ServiceAccount{},
		configMaps:      map[string]*corev1.ConfigMap{},
		hpaByTarget:     map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		policies:        map[string][]*networkingv1.NetworkPolicy{},
	}
	seen := map[string]bool{}
	for _, o := range objects {
		id := o.id()
		if seen[id] {
			p.add(o, "defined more than once")
		}
		seen[id] = true
		k := key(o.meta.GetNamespace(), o.meta.GetName())
		switch t := o.obj.(type) {
		case *appsv1.Deployment:
			ix.deployments = append(ix.deployments, o)
			ix.deploymentByKey[k] = t
		case *corev1.Service:
			ix.services[k] = t
		case *corev1.ServiceAccount:
			ix.serviceAccounts[k] = t
		case *corev1.ConfigMap:
			ix.configMaps[k] = t
		case *autoscalingv2.HorizontalPodAutoscaler:
			ix.hpaByTarget[key(t.Namespace, t.Spec.ScaleTargetRef.Name)] = t
		case *networkingv1.NetworkPolicy:
			ix.policies[t.Namespace] = append(ix.policies[t.Namespace], t)
		case *networkingv1.Ingress:
			ix.ingresses = append(ix.ingresses, t)
		}
	}
	return ix
}

func checkAll(objects []*object, r rules, p *problems) {
	ix := buildIndex(objects, p)
	for _, o := range objects {
		if o.meta.GetLabels()[labelPartOf] != "bilet" {
			p.add(o, "label %s=bilet is missing (it is how the suite's objects are found)", labelPartOf)
		}
		switch t := o.obj.(type) {
		case *appsv1.Deployment:
			checkDeployment(o, t, ix, r, p)
		case *corev1.Service:
			checkService(o, t, ix, p)
		case *corev1.ServiceAccount:
			if t.AutomountServiceAccountToken == nil || *t.AutomountServiceAccountToken {
				p.add(o, "automountServiceAccountToken must be false: no Bilet process talks to "+
					"the Kubernetes API")
			}
		case *corev1.ConfigMap:
			for k := range t.Data {
				if looksSecret(k) {
					p.add(o, "key %s carries a secret: it belongs in a Secret, not a ConfigMap", k)
				}
			}
		case *corev1.Namespace:
			if t.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
				p.add(o, "label pod-security.kubernetes.io/enforce=restricted is required: the "+
					"cluster then refuses any pod that breaks the hardening rules")
			}
		case *networkingv1.Ingress:
			checkIngress(o, t, ix, p)
		case *networkingv1.NetworkPolicy:
			if len(t.Spec.PolicyTypes) == 0 {
				p.add(o, "policyTypes must be explicit (Ingress, Egress)")
			}
		case *policyv1.PodDisruptionBudget:
			checkPDB(o, t, ix, p)
		case *autoscalingv2.HorizontalPodAutoscaler:
			checkHPA(o, t, ix, p)
		case *KafkaTopic:
			checkKafkaTopic(o, t, p)
		case *PrometheusRule:
			checkPrometheusRule(o, t, p)
		case *PodMonitor:
			checkPodMonitor(o, t, ix, p)
		case *OperatorObject:
			checkScaledObject(o, t, ix, p)
		case *batchv1.CronJob:
			checkCronJob(o, t, ix, r, p)
		}
	}
	checkNetworkPolicies(ix, p)
	checkOneKeyStore(ix, p)
	checkServiceSet(objects, ix, r, p)
}

// ---------------------------------------------------------------- workloads

func checkDeployment(o *object, d *appsv1.Deployment, ix *index, r rules, p *problems) {
	tpl := &d.Spec.Template
	pod := &tpl.Spec
	if d.Spec.Selector == nil ||
		len(d.Spec.Selector.MatchLabels)+len(d.Spec.Selector.MatchExpressions) == 0 {
		p.add(o, "spec.selector is required")
	} else if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err != nil {
		p.add(o, "spec.selector: %v", err)
	} else if !sel.Matches(labels.Set(tpl.Labels)) {
		p.add(o, "spec.selector does not match the pod template's labels")
	}
	service, component := tpl.Labels[labelName], tpl.Labels[labelComponent]
	if service == "" || component == "" {
		p.add(o, "the pod template needs the labels %s and %s", labelName, labelComponent)
	}

	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		p.add(o, "automountServiceAccountToken must be false: no Bilet process talks to the "+
			"Kubernetes API, so no token is mounted")
	}
	if pod.ServiceAccountName == "" {
		p.add(o, "serviceAccountName is required: one ServiceAccount per workload, never default")
	} else if ix.serviceAccounts[key(d.Namespace, pod.ServiceAccountName)] == nil {
		p.add(o, "ServiceAccount %q is not in the manifests", pod.ServiceAccountName)
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		p.add(o, "host network, PID and IPC namespaces are not allowed")
	}

	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
		if v.HostPath != nil {
			p.add(o, "volume %q: hostPath volumes are not allowed", v.Name)
		}
		if v.EmptyDir != nil && v.EmptyDir.SizeLimit == nil {
			p.add(o, "volume %q: an emptyDir needs a sizeLimit (it is the node's disk)", v.Name)
		}
	}

	if len(pod.Containers) == 0 {
		p.add(o, "the pod has no containers")
		return
	}
	exempt := d.Annotations[annotationProbesExempt] != ""
	all := slices.Concat(pod.InitContainers, pod.Containers)
	for i := range all {
		c := &all[i]
		env := containerEnv(o, d.Namespace, c, ix, p)
		checkContainer(o, pod, c, volumes, env, r, exempt, p)
		checkKeys(o, c, env, service, component, p)
		if c.Name == pod.Containers[0].Name && service != "" {
			checkBiletProcess(o, d, c, env, service, component, p)
		}
	}
	if !holdsKeys(service, component) {
		for _, v := range pod.Volumes {
			for _, secret := range volumeSecrets(v) {
				if slices.Contains(keySecrets, secret) {
					p.add(o, "volume %q mounts Secret %s: only the APIs of %s hold the suite's "+
						"keys", v.Name, secret, holderList())
				}
			}
		}
	}

	if ix.hpaByTarget[key(d.Namespace, d.Name)] != nil && d.Spec.Replicas != nil {
		p.add(o, "spec.replicas is set, but a HorizontalPodAutoscaler scales this Deployment: "+
			"every apply would reset the autoscaler's choice; leave replicas out")
	}
}

func checkContainer(o *object, pod *corev1.PodSpec, c *corev1.Container,
	volumes map[string]corev1.Volume, env map[string]envVar, r rules, probesExempt bool,
	p *problems) {
	add := func(format string, args ...any) {
		p.add(o, "container %q: "+format, append([]any{c.Name}, args...)...)
	}
	if !imagePinned(c.Image) {
		add("image %q must be pinned by a tag or a digest, never latest", c.Image)
	}

	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if v := first(sc.RunAsNonRoot, psc.RunAsNonRoot); v == nil || !*v {
		add("runAsNonRoot must be true")
	}
	if v := first(sc.RunAsUser, psc.RunAsUser); v == nil || *v == 0 {
		add("runAsUser must be a fixed non-zero uid")
	} else if r.uid != 0 && *v != r.uid {
		add("runAsUser %d is not the images' user %d", *v, r.uid)
	}
	if v := first(sc.RunAsGroup, psc.RunAsGroup); v == nil || *v == 0 {
		add("runAsGroup must be a fixed non-zero gid")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		add("readOnlyRootFilesystem must be true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		add("allowPrivilegeEscalation must be false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		add("privileged containers are not allowed")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		add("capabilities.drop must include ALL")
	} else if len(sc.Capabilities.Add) > 0 {
		add("no capability may be added")
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		add("seccompProfile must be RuntimeDefault (pod or container)")
	}

	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := c.Resources.Requests[res]
		lim, hasLim := c.Resources.Limits[res]
		if !hasReq {
			add("resources.requests.%s is required", res)
		}
		if !hasLim {
			add("resources.limits.%s is required", res)
		}
		if hasReq && hasLim && req.Cmp(lim) > 0 {
			add("resources.requests.%s (%s) exceeds its limit (%s)", res, req.String(), lim.String())
		}
	}

	if !probesExempt {
		if c.LivenessProbe == nil {
			add("livenessProbe is required (or annotate the Deployment %s with the reason)",
				annotationProbesExempt)
		}
		if c.ReadinessProbe == nil {
			add("readinessProbe is required (or annotate the Deployment %s with the reason)",
				annotationProbesExempt)
		}
	}
	for name, probe := range map[string]*corev1.Probe{
		"livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe,
		"startupProbe": c.StartupProbe,
	} {
		if probe == nil {
			continue
		}
		var port *intstr.IntOrString
		if probe.HTTPGet != nil {
			port = &probe.HTTPGet.Port
		} else if probe.TCPSocket != nil {
			port = &probe.TCPSocket.Port
		}
		if port != nil && !hasContainerPort(c, *port) {
			add("%s: port %s is not a port of the container", name, port.String())
		}
	}

	tmp := false
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			add("volumeMount %q names no volume of the pod", m.Name)
		}
		if m.MountPath == "/tmp" && ok && v.EmptyDir != nil && !m.ReadOnly {
			tmp = true
		}
	}
	if !tmp {
		add("a read-only root filesystem needs a writable emptyDir at /tmp (Python's tempfile, " +
			"request bodies spooled to disk)")
	}

	checkVariableReferences(c, env, add)
	checkCommandLine(c, env, add)
	checkKafkaClient(c, env, volumes, add)
}

// checkKeys: the master key and the key store reach only the processes that hold keys, and those
// get both.
func checkKeys(o *object, c *corev1.Container, env map[string]envVar, service, component string,
	p *problems) {
	add := func(format string, args ...any) {
		p.add(o, "container %q: "+format, append([]any{c.Name}, args...)...)
	}
	if holdsKeys(service, component) {
		return // checkBiletProcess requires keyEnv of these
	}
	who := fmt.Sprintf("%s %s", service, component)
	if service == "" || component == "" {
		who = "this process"
	}
	for _, name := range keyEnv {
		if _, ok := env[name]; ok {
			add("%s is given to %s, which must not hold it: only the APIs of %s seal and open "+
				"personal fields with the suite's keys", name, who, holderList())
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil &&
			slices.Contains(keySecrets, e.ValueFrom.SecretKeyRef.Name) &&
			!slices.Contains(keyEnv, e.Name) {
			add("env %s comes from Secret %s, which %s must not hold: only the APIs of %s do",
				e.Name, e.ValueFrom.SecretKeyRef.Name, who, holderList())
		}
	}
}

// checkBiletProcess holds the rules for the suite's own processes: an HTTP API, a projection
// worker or a relay.
func checkBiletProcess(o *object, d *appsv1.Deployment, c *corev1.Container,
	env map[string]envVar, service, component string, p *problems) {
	add := func(format string, args ...any) {
		p.add(o, "container %q: "+format, append([]any{c.Name}, args...)...)
	}
	required, known := requiredEnv[component]
	if !known {
		p.add(o, "%s must be api, relay, worker or job, not %q", labelComponent, component)
		return
	}
	if holdsKeys(service, component) {
		required = slices.Concat(required, keyEnv)
	}
	for _, name := range required {
		v, ok := env[name]
		switch {
		case !ok:
			add("%s is not set: the process needs it in production", name)
		case v.known && v.value == "":
			add("%s is empty", name)
		}
	}
	if v, ok := env["BVB_ENVIRONMENT"]; ok && v.known && v.value != "production" {
		add("BVB_ENVIRONMENT is %q: deployed processes run as production", v.value)
	}
	for _, kind := range storeKindEnv {
		if v, ok := env[kind.name]; ok && v.known && !slices.Contains(kind.allowed, v.value) {
			add("%s is %q: deployed processes keep their stores in PostgreSQL (allowed: %s; "+
				"the root filesystem is read-only and a pod's disk is not kept)",
				kind.name, v.value, strings.Join(kind.allowed, ", "))
		}
	}
	// KurrentDB holds events only: the other stores' kinds are said, and the server named.
	if v, ok := env["BVB_EVENT_STORE"]; ok && v.known && v.value == "kurrentdb" {
		for _, name := range []string{"BVB_READ_MODEL", "BVB_KEY_STORE"} {
			if _, set := env[name]; !set {
				add("BVB_EVENT_STORE is kurrentdb: %s must be set (read models and data keys "+
					"cannot live in KurrentDB)", name)
			}
		}
		_, fromFile := env["BVB_KURRENTDB_URL_FILE"]
		_, fromSecret := env["BVB_KURRENTDB_URL"]
		if !fromFile && !fromSecret {
			add("BVB_EVENT_STORE is kurrentdb: BVB_KURRENTDB_URL_FILE names no connection string")
		}
	}

	switch component {
	case "api":
		if len(c.Ports) == 0 {
			add("an API container declares its HTTP port")
			return
		}
		wants := map[string]struct {
			probe *corev1.Probe
			path  string
		}{
			"livenessProbe":  {c.LivenessProbe, "/" + service + "/healthz"},
			"readinessProbe": {c.ReadinessProbe, "/" + service + "/readyz"},
		}
		for name, want := range wants {
			if want.probe != nil && (want.probe.HTTPGet == nil || want.probe.HTTPGet.Path != want.path) {
				add("%s must be an HTTP GET of %s", name, want.path)
			}
		}
		a := d.Spec.Template.Annotations
		if a["prometheus.io/scrape"] != "true" {
			p.add(o, "pod annotation prometheus.io/scrape must be \"true\"")
		}
		if want := "/" + service + "/metrics"; a["prometheus.io/path"] != want {
			p.add(o, "pod annotation prometheus.io/path must be %s", want)
		}
		if port, err := strconv.Atoi(a["prometheus.io/port"]); err != nil ||
			!hasContainerPort(c, intstr.FromInt32(int32(port))) {
			p.add(o, "pod annotation prometheus.io/port must be the number of a container port")
		}
	case "worker":
		// A projection worker is one member of its Kafka consumer group: its replicas share the
		// partitions, so any count and a rolling update are fine. Most serve /metrics only (exempt
		// from probes); one that answers probes (the recommender's, ADR 0047) does as a relay does.
		wants := map[string]struct {
			probe *corev1.Probe
			path  string
		}{
			"startupProbe":   {c.StartupProbe, "/livez"},
			"livenessProbe":  {c.LivenessProbe, "/livez"},
			"readinessProbe": {c.ReadinessProbe, "/readyz"},
		}
		for name, want := range wants {
			if want.probe != nil && (want.probe.HTTPGet == nil || want.probe.HTTPGet.Path != want.path) {
				add("%s must be an HTTP GET of %s", name, want.path)
			}
		}
	case "relay":
		// A relay is a singleton per store: two would publish every event twice and race on the
		// checkpoint. Recreate makes a rollout stop the old one before the new one starts.
		if d.Spec.Replicas != nil && *d.Spec.Replicas > 1 {
			p.add(o, "a relay runs as one replica, not %d", *d.Spec.Replicas)
		}
		if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			p.add(o, "a relay's strategy must be Recreate: a rolling update would run two at once")
		}
	}
}

// ---------------------------------------------------------------- environment

type envVar struct {
	value      string // when known: a literal or a rendered ConfigMap's value
	known      bool
	fromSecret bool
}

// containerEnv is what the container's environment will hold, as far as the manifests tell.
func containerEnv(o *object, namespace string, c *corev1.Container, ix *index,
	p *problems) map[string]envVar {
	add := func(format string, args ...any) {
		p.add(o, "container %q: "+format, append([]any{c.Name}, args...)...)
	}
	env := map[string]envVar{}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm := ix.configMaps[key(namespace, from.ConfigMapRef.Name)]
			if cm == nil {
				if from.ConfigMapRef.Optional == nil || !*from.ConfigMapRef.Optional {
					add("envFrom ConfigMap %q is not in the manifests", from.ConfigMapRef.Name)
				}
				continue
			}
			for k, v := range cm.Data {
				env[from.Prefix+k] = envVar{value: v, known: true}
			}
		case from.SecretRef != nil:
			add("envFrom a whole Secret hides which variables it sets; use env with " +
				"secretKeyRef, one variable each")
		}
	}
	seen := map[string]bool{}
	for _, e := range c.Env {
		if seen[e.Name] {
			add("env %s is set twice", e.Name)
		}
		seen[e.Name] = true
		fromSecret := false
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = envVar{value: e.Value, known: true}
		case e.ValueFrom.SecretKeyRef != nil:
			fromSecret = true
			env[e.Name] = envVar{fromSecret: true}
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm := ix.configMaps[key(namespace, ref.Name)]
			value, ok := "", false
			if cm != nil {
				value, ok = cm.Data[ref.Key]
			}
			if !ok && (ref.Optional == nil || !*ref.Optional) {
				add("env %s: ConfigMap %q has no key %q in the manifests", e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = envVar{value: value, known: ok}
		default:
			env[e.Name] = envVar{}
		}
		if looksSecret(e.Name) && !fromSecret {
			add("env %s carries a secret: take it from a Secret (secretKeyRef), never a literal "+
				"or a ConfigMap", e.Name)
		}
	}
	return env
}

var variableReference = regexp.MustCompile(`\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// checkVariableReferences: Kubernetes leaves an unresolvable $(NAME) in command or args as the
// literal text, so a typo would reach the process silently.
func checkVariableReferences(c *corev1.Container, env map[string]envVar,
	add func(string, ...any)) {
	for _, word := range slices.Concat(c.Command, c.Args) {
		for _, m := range variableReference.FindAllStringSubmatch(word, -1) {
			if m[1] == "" {
				continue // $$ escapes a dollar
			}
			if _, ok := env[m[1]]; !ok {
				add("command/args refer to $(%s), which the container's env does not define: "+
					"Kubernetes would pass the text unexpanded", m[1])
			}
		}
	}
}

var (
	// A $(NAME) of a URL setting: database, key store, broker URLs carry passwords.
	urlVariable = regexp.MustCompile(`^BVB_[A-Z0-9_]*URL$`)
	// A PostgreSQL URL, or any URL with a password in it (scheme://user:password@host).
	secretURL = regexp.MustCompile(`(?i)\bpostgres(?:ql)?(?:\+[a-z0-9]+)?://|://[^/@\s:]*:[^/@\s]*@`)
	password  = regexp.MustCompile(`(://[^/@\s:]*:)[^/@\s]*@`)
)

// checkCommandLine: a secret on the command line is visible to anyone who can run `ps` on the
// node or read the pod spec (and in crash reports and audit logs); processes read it from their
// environment (BVB_RELAY_STORE, BVB_DATABASE_URL, ...), which comes from a Secret.
func checkCommandLine(c *corev1.Container, env map[string]envVar, add func(string, ...any)) {
	for _, word := range slices.Concat(c.Command, c.Args) {
		for _, m := range variableReference.FindAllStringSubmatch(word, -1) {
			name := m[1]
			if name != "" && (urlVariable.MatchString(name) || looksSecret(name) ||
				env[name].fromSecret) {
				add("command/args pass $(%s) on the command line, where `ps` and the pod spec "+
					"show it: let the process read it from its environment", name)
			}
		}
		if secretURL.MatchString(variableReference.ReplaceAllString(word, "")) {
			add("command/args hold a database URL or a URL with a password (%q): pass it in "+
				"the environment, from a Secret", redact(word))
		}
	}
}

// redact hides a password in a URL, so the validator's output does not leak what it found.
func redact(word string) string {
	return password.ReplaceAllString(word, "${1}***@")
}

// checkOneKeyStore: the key holders of a namespace share one master key and one key store. Two
// would split every participant's data keys, and erasing them in one would leave the other's.
func checkOneKeyStore(ix *index, p *problems) {
	refs := map[string]map[string]map[string]bool{} // namespace -> env name -> "Secret/key" set
	for _, o := range ix.deployments {
		d := o.obj.(*appsv1.Deployment)
		for _, c := range d.Spec.Template.Spec.Containers {
			for _, e := range c.Env {
				if !slices.Contains(keyEnv, e.Name) || e.ValueFrom == nil ||
					e.ValueFrom.SecretKeyRef == nil {
					continue
				}
				if refs[d.Namespace] == nil {
					refs[d.Namespace] = map[string]map[string]bool{}
				}
				if refs[d.Namespace][e.Name] == nil {
					refs[d.Namespace][e.Name] = map[string]bool{}
				}
				ref := e.ValueFrom.SecretKeyRef
				refs[d.Namespace][e.Name][ref.Name+"/"+ref.Key] = true
			}
		}
	}
	for _, ns := range sortedKeys(refs) {
		for _, name := range sortedKeys(refs[ns]) {
			if set := refs[ns][name]; len(set) > 1 {
				found := sortedKeys(set)
				p.add(nil, "namespace %q: %s comes from %s: the suite has one key store and one "+
					"master key, so every holder takes it from the same Secret and key", ns, name,
					strings.Join(found, " and "))
			}
		}
	}
}

// ---------------------------------------------------------------- traffic

func checkService(o *object, s *corev1.Service, ix *index, p *problems) {
	if len(s.Spec.Selector) == 0 {
		p.add(o, "spec.selector is required: this Service would route nowhere")
		return
	}
	selected := selectDeployments(s.Namespace, labels.SelectorFromSet(s.Spec.Selector), ix)
	if len(selected) == 0 {
		p.add(o, "spec.selector matches no Deployment's pods")
	}
	for _, port := range s.Spec.Ports {
		target := port.TargetPort
		if target.Type == intstr.Int && target.IntVal == 0 {
			target = intstr.FromInt32(port.Port)
		}
		for _, d := range selected {
			if !podHasPort(&d.Spec.Template.Spec, target) {
				p.add(o, "port %q: targetPort %s is not a port of Deployment %s's pods",
					port.Name, target.String(), d.Name)
			}
		}
	}
}

func checkIngress(o *object, ing *networkingv1.Ingress, ix *index, p *problems) {
	if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName == "" {
		p.add(o, "spec.ingressClassName is required (no reliance on a cluster default)")
	}
	check := func(where string, b *networkingv1.IngressBackend) {
		if b.Service == nil {
			p.add(o, "%s: only Service backends are used", where)
			return
		}
		svc := ix.services[key(ing.Namespace, b.Service.Name)]
		if svc == nil {
			p.add(o, "%s: backend Service %q is not in the manifests", where, b.Service.Name)
			return
		}
		for _, port := range svc.Spec.Ports {
			if (b.Service.Port.Name != "" && port.Name == b.Service.Port.Name) ||
				(b.Service.Port.Number != 0 && port.Port == b.Service.Port.Number) {
				return
			}
		}
		p.add(o, "%s: Service %q has no port %q/%d", where, b.Service.Name,
			b.Service.Port.Name, b.Service.Port.Number)
	}
	if ing.Spec.DefaultBackend != nil {
		check("defaultBackend", ing.Spec.DefaultBackend)
	}
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for _, path := range rule.HTTP.Paths {
			where := fmt.Sprintf("path %s", path.Path)
			if path.PathType == nil {
				p.add(o, "%s: pathType is required", where)
			}
			check(where, &path.Backend)
		}
	}
}

func checkHPA(o *object, h *autoscalingv2.HorizontalPodAutoscaler, ix *index, p *problems) {
	ref := h.Spec.ScaleTargetRef
	if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" {
		p.add(o, "scaleTargetRef must be an apps/v1 Deployment")
		return
	}
	d := ix.deploymentByKey[key(h.Namespace, ref.Name)]
	if d == nil {
		p.add(o, "scaleTargetRef: Deployment %q is not in the manifests", ref.Name)
		return
	}
	if h.Spec.MinReplicas != nil && (*h.Spec.MinReplicas < 1 || *h.Spec.MinReplicas > h.Spec.MaxReplicas) {
		p.add(o, "minReplicas must be between 1 and maxReplicas")
	}
	if len(h.Spec.Metrics) == 0 {
		p.add(o, "spec.metrics must be explicit")
	}
	for _, m := range h.Spec.Metrics {
		if m.Resource == nil || m.Resource.Target.Type != autoscalingv2.UtilizationMetricType {
			continue
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if _, ok := c.Resources.Requests[m.Resource.Name]; !ok {
				p.add(o, "%s utilization needs a %s request on container %q of %s",
					m.Resource.Name, m.Resource.Name, c.Name, d.Name)
			}
		}
	}
}

func checkPDB(o *object, b *policyv1.PodDisruptionBudget, ix *index, p *problems) {
	sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
	if b.Spec.Selector == nil || err != nil || sel.Empty() {
		p.add(o, "spec.selector is required and must select the pods it protects")
		return
	}
	selected := selectDeployments(b.Namespace, sel, ix)
	if len(selected) == 0 {
		p.add(o, "spec.selector matches no Deployment's pods")
	}
	minAvailable, maxUnavailable := b.Spec.MinAvailable, b.Spec.MaxUnavailable
	switch {
	case minAvailable != nil && maxUnavailable != nil:
		p.add(o, "set minAvailable or maxUnavailable, not both")
	case maxUnavailable != nil:
		if maxUnavailable.String() == "0" || maxUnavailable.String() == "0%" {
			p.add(o, "maxUnavailable 0 allows no disruption: nodes could never be drained")
		}
	case minAvailable != nil:
		for _, d := range selected {
			replicas := expectedReplicas(d, ix)
			scaled, err := intstr.GetScaledValueFromIntOrPercent(minAvailable, int(replicas), true)
			if err == nil && int32(scaled) >= replicas {
				p.add(o, "minAvailable %s of %d replica(s) of %s allows no disruption: nodes could "+
					"never be drained", minAvailable.String(), replicas, d.Name)
			}
		}
	default:
		p.add(o, "set maxUnavailable (or minAvailable)")
	}
}

// checkNetworkPolicies: where there are policies, there is a default deny, and the deny does not
// cut a pod off from what it must have (its own ports, DNS).
func checkNetworkPolicies(ix *index, p *problems) {
	namespaces := make([]string, 0, len(ix.policies))
	for ns := range ix.policies {
		namespaces = append(namespaces, ns)
	}
	sort.Strings(namespaces)
	for _, ns := range namespaces {
		policies := ix.policies[ns]
		deny := false
		for _, np := range policies {
			if len(np.Spec.PodSelector.MatchLabels)+len(np.Spec.PodSelector.MatchExpressions) == 0 &&
				slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) &&
				slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) &&
				len(np.Spec.Ingress) == 0 && len(np.Spec.Egress) == 0 {
				deny = true
			}
		}
		if !deny {
			p.add(nil, "namespace %q has NetworkPolicies but no default deny (empty podSelector, "+
				"policyTypes Ingress and Egress, no rules)", ns)
		}
		for _, o := range ix.deployments {
			d := o.obj.(*appsv1.Deployment)
			if d.Namespace != ns {
				continue
			}
			podLabels := labels.Set(d.Spec.Template.Labels)
			for _, c := range d.Spec.Template.Spec.Containers {
				for _, port := range c.Ports {
					if !policyAllows(policies, podLabels, networkingv1.PolicyTypeIngress, port) {
						p.add(o, "container %q port %d is unreachable: no NetworkPolicy allows "+
							"ingress to it", c.Name, port.ContainerPort)
					}
				}
			}
			dns := corev1.ContainerPort{ContainerPort: 53, Protocol: corev1.ProtocolUDP}
			if !policyAllows(policies, podLabels, networkingv1.PolicyTypeEgress, dns) {
				p.add(o, "no NetworkPolicy allows DNS (UDP 53) egress: names would not resolve")
			}
			if _, process := requiredEnv[podLabels[labelComponent]]; !process {
				continue
			}
			// Every process of the suite keeps its data in PostgreSQL and talks to Kafka, on
			// the ports its BVB_KAFKA_BOOTSTRAP names (9092 plain, 9093 TLS with Strimzi, ...).
			var discard problems
			kafka := kafkaPorts(containerEnv(o, ns, &d.Spec.Template.Spec.Containers[0], ix, &discard))
			if len(kafka) == 0 {
				p.add(o, "BVB_KAFKA_BOOTSTRAP names no host:port in the manifests")
			}
			dependencies := []struct {
				what string
				port int32
			}{{"PostgreSQL", 5432}}
			for _, port := range kafka {
				dependencies = append(dependencies, struct {
					what string
					port int32
				}{"Kafka", port})
			}
			for _, dependency := range dependencies {
				port := corev1.ContainerPort{ContainerPort: dependency.port, Protocol: corev1.ProtocolTCP}
				if !policyAllows(policies, podLabels, networkingv1.PolicyTypeEgress, port) {
					p.add(o, "no NetworkPolicy allows egress to %s (TCP %d): the %s could not "+
						"reach it", dependency.what, dependency.port, podLabels[labelComponent])
				}
			}
		}
	}
}

func policyAllows(policies []*networkingv1.NetworkPolicy, podLabels labels.Set,
	direction networkingv1.PolicyType, port corev1.ContainerPort) bool {
	for _, np := range policies {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil || !sel.Matches(podLabels) || !slices.Contains(np.Spec.PolicyTypes, direction) {
			continue
		}
		var portLists [][]networkingv1.NetworkPolicyPort
		if direction == networkingv1.PolicyTypeIngress {
			for _, rule := range np.Spec.Ingress {
				portLists = append(portLists, rule.Ports)
			}
		} else {
			for _, rule := range np.Spec.Egress {
				portLists = append(portLists, rule.Ports)
			}
		}
		for _, ports := range portLists {
			if len(ports) == 0 {
				return true // a rule without ports allows every port
			}
			for _, pp := range ports {
				if portMatches(pp, port) {
					return true
				}
			}
		}
	}
	return false
}

// ---------------------------------------------------------------- the suite as a whole

// checkServiceSet: every service of the suite is deployed, addressable and routed, and nothing
// is deployed that is not one of them.
func checkServiceSet(objects []*object, ix *index, r rules, p *problems) {
	if len(r.services) == 0 {
		return
	}
	has := map[string]bool{}
	for _, o := range objects {
		has[o.gvk.Kind+"/"+o.meta.GetName()] = true
	}
	routes := map[string]string{} // path -> Service
	for _, ing := range ix.ingresses {
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for _, path := range rule.HTTP.Paths {
				if path.Backend.Service != nil {
					routes[strings.TrimSuffix(path.Path, "/")] = path.Backend.Service.Name
				}
			}
		}
	}
	known := map[string]bool{}
	for _, name := range r.services {
		known[name] = true
		for _, kind := range []string{"Deployment", "Service", "ServiceAccount"} {
			if !has[kind+"/"+name] {
				p.add(nil, "service %s: no %s named %s", name, kind, name)
			}
		}
		if routes["/"+name] != name {
			p.add(nil, "service %s: no ingress path /%s/ routes to Service %s", name, name, name)
		}
	}
	for _, o := range ix.deployments {
		d := o.obj.(*appsv1.Deployment)
		if name := d.Spec.Template.Labels[labelName]; name != "" && !known[name] {
			p.add(o, "%s=%s is not a service of the suite", labelName, name)
		}
	}
}

// ---------------------------------------------------------------- helpers

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// volumeSecrets: the Secrets a volume mounts, directly or projected.
func volumeSecrets(v corev1.Volume) []string {
	var names []string
	if v.Secret != nil {
		names = append(names, v.Secret.SecretName)
	}
	if v.Projected != nil {
		for _, source := range v.Projected.Sources {
			if source.Secret != nil {
				names = append(names, source.Secret.Name)
			}
		}
	}
	return names
}

func first[T any](values ...*T) *T {
	for _, v := range values {
		if v != nil {
			return v
		}
	}
	return nil
}

func imagePinned(image string) bool {
	if strings.Contains(image, "@sha256:") {
		return true
	}
	lastPart := image[strings.LastIndex(image, "/")+1:]
	i := strings.LastIndex(lastPart, ":")
	return i > 0 && i < len(lastPart)-1 && lastPart[i+1:] != "latest"
}

func portMatches(pp networkingv1.NetworkPolicyPort, port corev1.ContainerPort) bool {
	protocol, want := corev1.ProtocolTCP, port.Protocol
	if pp.Protocol != nil {
		protocol = *pp.Protocol
	}
	if want == "" {
		want = corev1.ProtocolTCP
	}
	switch {
	case protocol != want:
		return false
	case pp.Port == nil:
		return true // every port of the protocol
	case pp.Port.Type == intstr.String:
		return port.Name != "" && pp.Port.StrVal == port.Name
	case pp.EndPort != nil:
		return pp.Port.IntVal <= port.ContainerPort && port.ContainerPort <= *pp.EndPort
	default:
		return pp.Port.IntVal == port.ContainerPort
	}
}

func hasContainerPort(c *corev1.Container, port intstr.IntOrString) bool {
	for _, cp := range c.Ports {
		if (port.Type == intstr.Int && cp.ContainerPort == port.IntVal) ||
			(port.Type == intstr.String && cp.Name == port.StrVal) {
			return true
		}
	}
	return false
}

func podHasPort(pod *corev1.PodSpec, port intstr.IntOrString) bool {
	for i := range pod.Containers {
		if hasContainerPort(&pod.Containers[i], port) {
			return true
		}
	}
	return false
}

func selectDeployments(namespace string, sel labels.Selector, ix *index) []*appsv1.Deployment {
	var out []*appsv1.Deployment
	for _, o := range ix.deployments {
		d := o.obj.(*appsv1.Deployment)
		if d.Namespace == namespace && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			out = append(out, d)
		}
	}
	return out
}

// expectedReplicas: what the Deployment runs at its smallest (the autoscaler's floor if any).
func expectedReplicas(d *appsv1.Deployment, ix *index) int32 {
	if h := ix.hpaByTarget[key(d.Namespace, d.Name)]; h != nil {
		if h.Spec.MinReplicas != nil {
			return *h.Spec.MinReplicas
		}
		return 1
	}
	if d.Spec.Replicas != nil {
		return *d.Spec.Replicas
	}
	return 1
}
