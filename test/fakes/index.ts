export * from '../../src/simulator/index.ts';
