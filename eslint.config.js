// Lint setup: typescript-eslint's recommended rules over the whole repo.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** `import` patterns that would point outwards, for `no-restricted-imports`. */
const compositionRoot = {
  regex: '(^|/)(services|main|cli)\\.js$',
  message: 'a part receives what it needs; only the composition root (main.ts) builds and wires the parts',
};
const entryPoints = { regex: '(^|/)(main|cli)\\.js$', message: 'nothing imports the entry points' };
const httpLayer = { regex: '(^|/)http/', message: 'the HTTP layer calls the parts, not the other way round' };
const clientInternals = {
  regex: '/client/(?!(protocol|close-codes|backoff)\\.js$)',
  message:
    "the server shares only the client's leaf modules: the protocol (protocol.ts, close-codes.ts), backoff.ts",
};
const storeUpwards = {
  regex:
    '(^|/)(apps|batch|callbacks|consumers|conversations|demo|idempotency|ingest|plugins|realtime|webhooks)/',
  message: 'the store imports no part built on it',
};

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', 'dist/', 'test-output/', 'web/dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Plain Node scripts outside the TypeScript build.
    files: ['scripts/**/*.mjs', 'bin/**/*.js'],
    languageOptions: { globals: { URL: 'readonly', console: 'readonly', process: 'readonly' } },
  },
  {
    // The test HTTP client returns loosely typed JSON so assertions can read any field.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // Imports point inwards (docs/design.md, "Architecture"): the composition root builds the parts, the HTTP
  // layer calls them, and no part reaches back up. The server and the client share only the protocol module.
  {
    files: ['src/**/*.ts'],
    ignores: ['src/main.ts', 'src/cli.ts', 'src/services.ts', 'src/http/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [compositionRoot, httpLayer, clientInternals] }],
    },
  },
  {
    files: ['src/services.ts', 'src/http/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [entryPoints, clientInternals] }] },
  },
  {
    files: ['src/main.ts', 'src/cli.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [clientInternals] }] },
  },
  {
    // Every error of oncely is made from its catalogue (errors.ts: one status and meaning per code); the bare
    // constructor is for a plugin's own refusals.
    files: ['src/**/*.ts'],
    ignores: ['src/errors.ts', 'src/plugins/load-plugin.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "NewExpression[callee.name='OncelyError']",
          message:
            "use OncelyError.of(code, message): the code's status comes from the catalogue in errors.ts",
        },
      ],
    },
  },
  {
    // The store is the lowest part: the rest is built on it, never the other way round.
    files: ['src/store/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [compositionRoot, httpLayer, clientInternals, storeUpwards] },
      ],
    },
  },
  {
    // The client library stands alone (Node and browser): it takes the protocol's types, never server code,
    // and only types from the protocol module, so no schema library ends up in a browser bundle.
    files: ['client/**/*.ts'],
    ignores: ['client/protocol.ts'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            { name: './protocol.js', allowTypeImports: true, message: 'import type from the protocol' },
          ],
          patterns: [{ regex: '^\\.\\./', message: 'the client library imports nothing outside client/' }],
        },
      ],
    },
  },
  {
    files: ['web/src/**/*.{ts,tsx}'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ regex: '^(\\.\\./)+(src|test|bench)/', message: 'the page uses the client library' }],
        },
      ],
    },
  },
);
