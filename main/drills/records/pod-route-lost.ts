import type { Drill, DrillEnv } from '../drill-types.ts';
import { controller, worker } from '../lab-terms.ts';

const node = controller(1);

function lostRoute(env: DrillEnv) {
  const owner = worker(0)(env);
  return env.plan.routes.find((r) => r.node === node(env) && r.owner === owner)!;
}

export const podRouteLost: Drill = {
  kind: 'drill',
  id: 'pod-route-lost',
  title: 'A lost pod route',
  teaches: 'how a node reaches pods on another node without an overlay: one route per worker\'s pod CIDR, via that worker',
  story: (env) =>
    `From ${node(env)}, the pods on ${worker(0)(env)} do not answer (\`curl\` to a pod IP hangs), while every other controller reaches them. ` +
    'Anything the API server there must reach inside a pod (a webhook, `kubectl proxy` to a service) fails only when that API server handles the request.',
  needs: { steps: ['pod-routes'], controllers: 2, workers: 1 },
  fault: [{ kind: 'run', node, command: (env) => `ip route del ${lostRoute(env).destination} 2>/dev/null; true`, why: 'the route gone, as after a hand-made `ip route flush`' }],
  checks: [{ step: 'pod-routes', node, probe: /^route to .*pods$/ }],
  symptoms: [
    {
      name: 'the pod network of the worker is not routed via the worker',
      node,
      command: (env) => `ip route get ${lostRoute(env).destination.replace(/0\/\d+$/, '10')} 2>&1`,
      expected: 'a route that does not go via the worker',
      judge: (r, env) => ({ ok: !r.stdout.includes(`via ${lostRoute(env).via}`), seen: r.stdout.trim().split('\n')[0] ?? '' }),
      hint: 'the route is still there',
    },
  ],
  hints: [
    (env) => `How does ${node(env)} reach a pod IP? \`ip route get 10.200.0.10\` there, and on another controller.`,
    'Every worker owns a slice of the pod network (`kubectl get nodes -o custom-columns=NAME:.metadata.name,CIDR:.spec.podCIDR`); every other node needs a route to that slice via the worker\'s address. Compare `ip route` on two controllers.',
    (env) => `\`ip route add ${lostRoute(env).destination} via ${lostRoute(env).via}\` on ${node(env)}. At boot, hardway-pod-routes.service adds the lab's routes from /etc/hardway/pod-routes.`,
  ],
  fix: [{ kind: 'run', node, command: (env) => `ip route replace ${lostRoute(env).destination} via ${lostRoute(env).via}` }],
};
