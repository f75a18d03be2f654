import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    // test/package-consumer compiles against the packed client only (its own tsconfig, its test).
    ignores: [
      'node_modules',
      'web/dist',
      'dist',
      'bench/results',
      'coverage',
      'test/package-consumer',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // The service stands alone: tooling and tests import it, never the other way round.
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['**/testkit/**', '**/scripts/**', '**/test/**'] },
      ],
    },
  },
  {
    // What scripts and tests share lives in testkit/: neither imports the other.
    files: ['scripts/**/*.ts', 'testkit/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['**/test/**'] }] },
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
);
