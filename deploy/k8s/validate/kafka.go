package main

// Kafka: the topics the suite declares (Strimzi KafkaTopic, decoded as strictly as the built-in
// kinds), and how its processes reach the brokers (ports the network policies must open, secrets
// mounted as files). docs/adr/0022-secured-kafka.md.

import (
	"path"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var strimziV1beta2 = schema.GroupVersion{Group: "kafka.strimzi.io", Version: "v1beta2"}

const (
	labelStrimziCluster = "strimzi.io/cluster"
	minTopicReplicas    = 3
	minInSyncReplicas   = 2
)

// KafkaTopic is the part of Strimzi's KafkaTopic (kafka.strimzi.io/v1beta2) the suite writes;
// anything else in a document is an unknown field, as for the built-in kinds.
type KafkaTopic struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              KafkaTopicSpec `json:"spec"`
}

type KafkaTopicSpec struct {
	TopicName  string                        `json:"topicName,omitempty"`
	Partitions *int32                        `json:"partitions,omitempty"`
	Replicas   *int32                        `json:"replicas,omitempty"`
	Config     map[string]intstr.IntOrString `json:"config,omitempty"`
}

func (t *KafkaTopic) DeepCopyObject() runtime.Object {
	c := *t
	t.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	if t.Spec.Partitions != nil {
		v := *t.Spec.Partitions
		c.Spec.Partitions = &v
	}
	if t.Spec.Replicas != nil {
		v := *t.Spec.Replicas
		c.Spec.Replicas = &v
	}
	if t.Spec.Config != nil {
		c.Spec.Config = make(map[string]intstr.IntOrString, len(t.Spec.Config))
		for k, v := range t.Spec.Config {
			c.Spec.Config[k] = v
		}
	}
	return &c
}

func addStrimziToScheme(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(strimziV1beta2, &KafkaTopic{})
	metav1.AddToGroupVersion(scheme, strimziV1beta2)
	return nil
}

// checkKafkaTopic: history topics keep every event, on three brokers, and a write counts only
// when two copies have it.
func checkKafkaTopic(o *object, t *KafkaTopic, p *problems) {
	if t.Labels[labelStrimziCluster] == "" {
		p.add(o, "label %s is required: the topic operator only manages topics of its cluster",
			labelStrimziCluster)
	}
	if t.Spec.Partitions == nil || *t.Spec.Partitions < 1 {
		p.add(o, "spec.partitions must be set: a topic's partitions can never be reduced, and "+
			"adding some moves streams to other partitions")
	}
	if t.Spec.Replicas == nil || *t.Spec.Replicas < minTopicReplicas {
		p.add(o, "spec.replicas must be at least %d: a topic holds history that exists nowhere "+
			"else in order", minTopicReplicas)
	}
	value := func(name string) (int64, bool) {
		v, ok := t.Spec.Config[name]
		if !ok {
			return 0, false
		}
		n, err := strconv.ParseInt(v.String(), 10, 64)
		if err != nil {
			p.add(o, "config %s: %q is not a number", name, v.String())
			return 0, false
		}
		return n, true
	}
	if isr, ok := value("min.insync.replicas"); !ok || isr < minInSyncReplicas {
		p.add(o, "config min.insync.replicas must be at least %d: with acks=all a write then "+
			"survives the loss of a broker", minInSyncReplicas)
	} else if t.Spec.Replicas != nil && isr >= int64(*t.Spec.Replicas) {
		p.add(o, "config min.insync.replicas must stay below spec.replicas, or one broker down "+
			"stops every write")
	}
	if ms, ok := value("retention.ms"); !ok || ms != -1 {
		p.add(o, "config retention.ms must be -1: history is never deleted by age")
	}
	if bytes, ok := value("retention.bytes"); ok && bytes != -1 {
		p.add(o, "config retention.bytes must be -1 (or absent): history is never deleted by size")
	}
}

// kafkaPorts: the ports of BVB_KAFKA_BOOTSTRAP ("host:port,host:port").
func kafkaPorts(env map[string]envVar) []int32 {
	var ports []int32
	for _, address := range strings.Split(env["BVB_KAFKA_BOOTSTRAP"].value, ",") {
		i := strings.LastIndex(address, ":")
		if i < 0 {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(address[i+1:]), 10, 32); err == nil {
			ports = append(ports, int32(n))
		}
	}
	return ports
}

// Variables naming files a Kafka client reads: each must lie in a read-only mount of a Secret.
var kafkaFileVariables = []string{
	"BVB_KAFKA_SASL_PASSWORD_FILE", "BVB_KAFKA_OAUTH_TOKEN_FILE", "BVB_KAFKA_SSL_CAFILE",
	"BVB_KAFKA_SSL_CERTFILE", "BVB_KAFKA_SSL_KEYFILE", "BVB_KAFKA_SSL_KEY_PASSWORD_FILE",
}

// checkKafkaClient: Kafka secrets reach a process as files from a Secret, never as variables
// (which /proc/<pid>/environ, crash reports and `kubectl describe` show).
func checkKafkaClient(c *corev1.Container, env map[string]envVar, volumes map[string]corev1.Volume,
	add func(string, ...any)) {
	if _, set := env["BVB_KAFKA_SASL_PASSWORD"]; set {
		add("env BVB_KAFKA_SASL_PASSWORD: mount the password from a Secret as a file and name " +
			"it in BVB_KAFKA_SASL_PASSWORD_FILE")
	}
	for _, name := range kafkaFileVariables {
		v, set := env[name]
		if !set {
			continue
		}
		if !v.known || !path.IsAbs(v.value) {
			add("env %s must be an absolute path written in the manifests, not %q", name, v.value)
			continue
		}
		if mount := mountOf(c, v.value); mount == nil {
			add("env %s: %s is in no volume mount of the container", name, v.value)
		} else if !mount.ReadOnly || len(volumeSecrets(volumes[mount.Name])) == 0 {
			add("env %s: %s must be in a read-only mount of a Secret (mount %q)", name, v.value,
				mount.Name)
		}
	}
}

func mountOf(c *corev1.Container, file string) *corev1.VolumeMount {
	for i := range c.VolumeMounts {
		m := &c.VolumeMounts[i]
		if strings.HasPrefix(path.Clean(file), strings.TrimSuffix(path.Clean(m.MountPath), "/")+"/") {
			return m
		}
	}
	return nil
}
