package main

// Monitoring (Prometheus Operator, monitoring.coreos.com/v1): the PodMonitor that scrapes the
// relays and the PrometheusRule with the suite's alerts, decoded strictly like every other kind.

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var monitoringV1 = schema.GroupVersion{Group: "monitoring.coreos.com", Version: "v1"}

type PodMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              PodMonitorSpec `json:"spec"`
}

type PodMonitorSpec struct {
	Selector            metav1.LabelSelector `json:"selector"`
	PodMetricsEndpoints []PodMetricsEndpoint `json:"podMetricsEndpoints"`
}

type PodMetricsEndpoint struct {
	Port     string `json:"port"`
	Path     string `json:"path,omitempty"`
	Interval string `json:"interval,omitempty"`
}

type PrometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              PrometheusRuleSpec `json:"spec"`
}

type PrometheusRuleSpec struct {
	Groups []RuleGroup `json:"groups"`
}

type RuleGroup struct {
	Name  string `json:"name"`
	Rules []Rule `json:"rules"`
}

type Rule struct {
	Alert       string            `json:"alert,omitempty"`
	Record      string            `json:"record,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func (m *PodMonitor) DeepCopyObject() runtime.Object {
	c := *m
	m.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	m.Spec.Selector.DeepCopyInto(&c.Spec.Selector)
	c.Spec.PodMetricsEndpoints = append([]PodMetricsEndpoint(nil), m.Spec.PodMetricsEndpoints...)
	return &c
}

func (r *PrometheusRule) DeepCopyObject() runtime.Object {
	c := *r
	r.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	c.Spec.Groups = make([]RuleGroup, len(r.Spec.Groups))
	for i, g := range r.Spec.Groups {
		c.Spec.Groups[i] = RuleGroup{Name: g.Name, Rules: make([]Rule, len(g.Rules))}
		for j, rule := range g.Rules {
			copied := rule
			copied.Labels = copyMap(rule.Labels)
			copied.Annotations = copyMap(rule.Annotations)
			c.Spec.Groups[i].Rules[j] = copied
		}
	}
	return &c
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func addMonitoringToScheme(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(monitoringV1, &PodMonitor{}, &PrometheusRule{})
	metav1.AddToGroupVersion(scheme, monitoringV1)
	return nil
}

// checkPrometheusRule: an alert someone can act on: it waits (`for`) before firing, says how bad
// it is (severity) and what is wrong (summary).
func checkPrometheusRule(o *object, r *PrometheusRule, p *problems) {
	for _, g := range r.Spec.Groups {
		for _, rule := range g.Rules {
			if rule.Alert == "" {
				continue
			}
			if strings.TrimSpace(rule.Expr) == "" {
				p.add(o, "alert %s: expr is empty", rule.Alert)
			}
			if rule.For == "" {
				p.add(o, "alert %s: set `for`, or one bad scrape pages someone", rule.Alert)
			}
			if s := rule.Labels["severity"]; s != "warning" && s != "critical" {
				p.add(o, "alert %s: labels.severity must be warning or critical", rule.Alert)
			}
			if rule.Annotations["summary"] == "" {
				p.add(o, "alert %s: annotations.summary says what is wrong", rule.Alert)
			}
		}
	}
}

// checkPodMonitor: it selects pods, on a port each of them declares.
func checkPodMonitor(o *object, m *PodMonitor, ix *index, p *problems) {
	sel, err := metav1.LabelSelectorAsSelector(&m.Spec.Selector)
	if err != nil || sel.Empty() {
		p.add(o, "spec.selector must select the suite's pods")
		return
	}
	// Matching nothing is allowed: the monitoring component does not require the relays'.
	matched := selectDeployments(m.Namespace, sel, ix)
	for _, endpoint := range m.Spec.PodMetricsEndpoints {
		for _, d := range matched {
			if !podHasPort(&d.Spec.Template.Spec, intstr.FromString(endpoint.Port)) {
				p.add(o, "Deployment %s has no container port named %q", d.Name, endpoint.Port)
			}
		}
	}
}
