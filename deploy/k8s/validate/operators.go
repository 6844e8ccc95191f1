package main

// The operators' kinds an environment may bring with it: Strimzi's Kafka and KafkaNodePool and
// CloudNativePG's Cluster (component platform-operators: a self-contained staging), and KEDA's
// ScaledObject and TriggerAuthentication (component keda-autoscaling). Their specs are the
// operators' to validate (each has a CRD schema in the cluster); here they must parse, carry
// typed metadata, and a ScaledObject must scale a Deployment of the suite that no
// HorizontalPodAutoscaler already scales, and whose replica count the manifests leave alone.
// tests/deploy holds their content to the suite's rules.

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	cnpgV1        = schema.GroupVersion{Group: "postgresql.cnpg.io", Version: "v1"}
	kedaV1alpha1  = schema.GroupVersion{Group: "keda.sh", Version: "v1alpha1"}
	operatorKinds = []schema.GroupVersionKind{
		strimziV1beta2.WithKind("Kafka"),
		strimziV1beta2.WithKind("KafkaNodePool"),
		cnpgV1.WithKind("Cluster"),
		kedaV1alpha1.WithKind("ScaledObject"),
		kedaV1alpha1.WithKind("TriggerAuthentication"),
	}
)

// OperatorObject is any of operatorKinds: typed metadata, the spec as its operator reads it.
type OperatorObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              map[string]any `json:"spec"`
}

func (o *OperatorObject) DeepCopyObject() runtime.Object {
	c := *o
	o.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	if o.Spec != nil {
		c.Spec = runtime.DeepCopyJSON(o.Spec)
	}
	return &c
}

func addOperatorsToScheme(scheme *runtime.Scheme) error {
	for _, gvk := range operatorKinds {
		scheme.AddKnownTypeWithName(gvk, &OperatorObject{})
	}
	metav1.AddToGroupVersion(scheme, cnpgV1)
	metav1.AddToGroupVersion(scheme, kedaV1alpha1)
	return nil
}

// checkScaledObject: KEDA scales a Deployment of the suite by creating an HPA for it; a second
// autoscaler on the same Deployment would fight it.
func checkScaledObject(o *object, s *OperatorObject, ix *index, p *problems) {
	if o.gvk.Kind != "ScaledObject" {
		return
	}
	target, _ := s.Spec["scaleTargetRef"].(map[string]any)
	name, _ := target["name"].(string)
	if name == "" {
		p.add(o, "spec.scaleTargetRef.name must name the Deployment it scales")
		return
	}
	k := key(s.Namespace, name)
	if d, ok := ix.deploymentByKey[k]; !ok {
		p.add(o, "spec.scaleTargetRef names Deployment %s, which the manifests do not define", name)
	} else if d.Spec.Replicas != nil {
		p.add(o, "Deployment %s sets spec.replicas, but KEDA scales it: every apply would reset "+
			"KEDA's choice; leave replicas out (minReplicaCount is the floor)", name)
	}
	if _, ok := ix.hpaByTarget[k]; ok {
		p.add(o, "Deployment %s is scaled by a HorizontalPodAutoscaler too", name)
	}
}
