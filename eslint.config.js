// One flat ESLint config for the repository. Type-aware rules come from
// typescript-eslint's recommendedTypeChecked; the layer graph of DESIGN.md §2
// is enforced with no-restricted-imports per package.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import nodePlugin from 'eslint-plugin-n';
import prettier from 'eslint-config-prettier';

const S = '@iscsi-target';
const all = ['icl-core', 'icl-soft', 'icl-offload-kpi', 'ctl-core', 'ctl-block', 'ctl-frontend-iscsi'];
/** package → packages of this repository it may import */
const allowed = {
  'icl-core': [],
  'ctl-core': [],
  'icl-offload-kpi': ['icl-core', 'icl-core/kpi'],
  'icl-soft': ['icl-core/kpi', 'icl-offload-kpi'],
  'ctl-block': ['ctl-core'],
  'ctl-frontend-iscsi': ['ctl-core', 'icl-core'],
};
const osModules = ['node:net', 'node:fs', 'node:fs/promises', 'net', 'fs', 'fs/promises', 'node:dgram', 'node:child_process'];

function layerRule(pkg) {
  const ok = new Set(allowed[pkg]);
  // Every package of the repository, and icl-core's driver door, unless allowed.
  const forbidden = [...all, 'icl-core/kpi'].filter((p) => !ok.has(p) && p !== pkg).map((p) => `${S}/${p}`);
  const paths = forbidden.map((name) => ({ name, message: `DESIGN.md §2: ${pkg} may not import ${name}` }));
  if (pkg === 'icl-core' || pkg === 'ctl-core') {
    for (const name of osModules) paths.push({ name, message: `DESIGN.md §2: ${pkg} never touches the OS` });
  }
  return {
    files: [`packages/${pkg}/src/**/*.ts`],
    rules: { 'no-restricted-imports': ['error', { paths, patterns: [{ group: [`${S}/*/src/*`, `${S}/*/dist/*`], message: 'import packages through their exports' }] }] },
  };
}

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/build/**', '.tools/**', 'coverage/**', '**/*.cjs', '**/*.d.mts', 'vitest.config.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { n: nodePlugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'n/prefer-node-protocol': 'error',
    },
  },
  // Scripts (tools/scripts, benchmarks, native/build.mjs, bins, test fixtures): plain JavaScript for Node,
  // linted with the recommended rules, without type information.
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'module',
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', performance: 'readonly', AbortController: 'readonly', structuredClone: 'readonly', queueMicrotask: 'readonly', TextDecoder: 'readonly', TextEncoder: 'readonly', fetch: 'readonly' },
    },
    rules: { ...tseslint.configs.disableTypeChecked.rules, '@typescript-eslint/consistent-type-imports': 'off' },
  },
  ...Object.keys(allowed).map(layerRule),
  prettier,
);
