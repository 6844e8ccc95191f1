package main

// One-off operations as CronJobs that never run by themselves (component portfolio-rebuild): an
// operator starts a Job from one (`kubectl create job --from=cronjob/...`). Their pods are held to
// the same rules as the Deployments' (checkDeployment on the pod template), with the environment
// of a `job` process and no probes (a Job's pod runs to completion).

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func checkCronJob(o *object, c *batchv1.CronJob, ix *index, r rules, p *problems) {
	if c.Spec.Suspend == nil || !*c.Spec.Suspend {
		p.add(o, "spec.suspend must be true: an operation runs when an operator starts a Job "+
			"from it, never on a schedule")
	}
	if c.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		p.add(o, "spec.concurrencyPolicy must be Forbid: two runs of one operation would race")
	}
	tpl := c.Spec.JobTemplate.Spec.Template
	if tpl.Spec.RestartPolicy != "Never" && tpl.Spec.RestartPolicy != "OnFailure" {
		p.add(o, "the pod's restartPolicy must be Never or OnFailure")
	}
	annotations := map[string]string{annotationProbesExempt: "a Job's pod runs to completion"}
	for k, v := range c.Annotations {
		annotations[k] = v
	}
	// The pod template as a Deployment's: every pod rule applies unchanged.
	asDeployment := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name: c.Name, Namespace: c.Namespace, Labels: c.Labels, Annotations: annotations,
		},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: tpl.Labels},
			Template: tpl,
		},
	}
	checkDeployment(o, asDeployment, ix, r, p)
}
