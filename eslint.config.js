// Type-aware lint for the whole monorepo. Packages import each other only through
// their package name (their index.ts); deep imports are refused here and by `exports`.
import js from '@eslint/js';
import noImportCycles from './scripts/lint/no-import-cycles.js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '.stack/**', 'eslint.config.js', 'scripts/lint/*.js', '**/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { commstrat: { rules: { 'no-import-cycles': noImportCycles } } },
    rules: {
      // Modules that import each other (type imports too) cannot be read or changed one at a time.
      'commstrat/no-import-cycles': 'error',
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ['@commstrat/*/src/*', '../../*/src/*'], message: 'Import another package by its name only.' }],
          paths: ['prom-client', 'winston', 'winston-graylog2'].map((name) => ({
            name,
            message: 'Metrics and logs go through @commstrat/observability (its metrics interfaces and Logger).',
          })),
        },
      ],
    },
  },
  {
    // The one package that implements metrics and logging on top of them.
    files: ['packages/observability/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['@commstrat/*/src/*', '../../*/src/*'], message: 'Import another package by its name only.' }] },
      ],
    },
  },
  {
    // Tests read API answers as loose JSON and assert on their shape.
    files: ['**/*.test.ts', 'tests/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);
