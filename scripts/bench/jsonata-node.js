// The peer of jsonata-bench: jsonata-js on node, same expressions, same dataset, same iterations.
// Usage: node jsonata-node.js JSONATA.js EXPRESSIONS.json DATASET.json [ITERATIONS]
const fs = require('fs');
const [lib, exprFile, dataFile, n] = process.argv.slice(2);
const source = fs.readFileSync(lib, 'utf8');
const module_ = { exports: {} };
new Function('module', 'exports', 'require', source + '\n;if (typeof jsonata !== "undefined") module.exports = jsonata;')(module_, module_.exports, require);
const jsonata = module_.exports;
const expressions = JSON.parse(fs.readFileSync(exprFile, 'utf8'));
const data = JSON.parse(fs.readFileSync(dataFile, 'utf8'));
const iterations = parseInt(n || '10000');
(async () => {
  for (const { name, expr } of expressions) {
    const compiled = jsonata(expr);
    let result = compiled.evaluate(data);
    if (result && typeof result.then === 'function') result = await result;
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) {
      const r = compiled.evaluate(data);
      if (r && typeof r.then === 'function') await r;
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    console.log(JSON.stringify({ name, evaluationsPerSecond: Math.round(iterations / seconds), result: result === undefined ? null : result }));
  }
})();
