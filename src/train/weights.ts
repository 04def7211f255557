// Moving trained values into a graph: a freshly built eval-mode student has the
// same initializer names as the training graph, so weights carry over by name.
import type { Graph, Tensor } from '../graph/ir.js';
import { GraphError } from '../errors.js';

export function applyWeights(graph: Graph, weights: Map<string, Tensor>): Graph {
  for (const [name, t] of weights) {
    const cur = graph.initializers.get(name);
    if (!cur) throw new GraphError(`graph '${graph.name}' has no initializer '${name}' to receive trained weights`);
    if (cur.dims.join(',') !== t.dims.join(',')) {
      throw new GraphError(`weight '${name}' has shape [${t.dims}], the graph expects [${cur.dims}]`);
    }
    graph.initializers.set(name, t);
  }
  return graph;
}
