package specs

import (
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/poet-operator/poet-operator/api/v1alpha1"
)

// HeadlessService gives the pod its stable DNS name; it lists the pod before it is
// ready so the operator can read its status.
func HeadlessService(ps *v1alpha1.PoetService) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   typeMeta("v1", "Service"),
		ObjectMeta: meta(ps, HeadlessServiceName(ps)),
		Spec: corev1.ServiceSpec{
			ClusterIP:                corev1.ClusterIPNone,
			Selector:                 SelectorLabels(ps),
			PublishNotReadyAddresses: true,
			Ports: []corev1.ServicePort{
				{Name: "rest", Port: RESTPort, TargetPort: intstr.FromString("rest"), Protocol: corev1.ProtocolTCP},
				{Name: "grpc", Port: GRPCPort, TargetPort: intstr.FromString("grpc"), Protocol: corev1.ProtocolTCP},
				{Name: "metrics", Port: ps.Spec.Metrics.Port, TargetPort: intstr.FromString("metrics"), Protocol: corev1.ProtocolTCP},
			},
		},
	}
}

// ClientService is what nodes use: REST on spec.service.port, optionally gRPC, and the
// metrics port for scraping.
func ClientService(ps *v1alpha1.PoetService) *corev1.Service {
	s := &ps.Spec.Service
	ports := []corev1.ServicePort{{Name: "rest", Port: s.Port, TargetPort: intstr.FromString("rest"), Protocol: corev1.ProtocolTCP}}
	if s.GRPCPort != nil {
		ports = append(ports, corev1.ServicePort{Name: "grpc", Port: *s.GRPCPort, TargetPort: intstr.FromString("grpc"), Protocol: corev1.ProtocolTCP})
	}
	ports = append(ports, corev1.ServicePort{Name: "metrics", Port: ps.Spec.Metrics.Port, TargetPort: intstr.FromString("metrics"), Protocol: corev1.ProtocolTCP})
	m := meta(ps, ps.Name)
	m.Labels[LabelService] = "client"
	m.Annotations = s.Annotations
	svc := &corev1.Service{
		TypeMeta:   typeMeta("v1", "Service"),
		ObjectMeta: m,
		Spec:       corev1.ServiceSpec{Type: s.Type, Selector: SelectorLabels(ps), Ports: ports},
	}
	if s.Type == corev1.ServiceTypeLoadBalancer {
		svc.Spec.LoadBalancerClass = s.LoadBalancerClass
	}
	return svc
}

// PodDisruptionBudget forbids voluntary evictions: node drains must not restart the
// pod mid-round; the operator restarts it in the cycle gap.
func PodDisruptionBudget(ps *v1alpha1.PoetService) *policyv1.PodDisruptionBudget {
	zero := intstr.FromInt32(0)
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   typeMeta("policy/v1", "PodDisruptionBudget"),
		ObjectMeta: meta(ps, ps.Name),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: &zero,
			Selector:       &metav1.LabelSelector{MatchLabels: SelectorLabels(ps)},
		},
	}
}
