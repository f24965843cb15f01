import type { TestProject } from 'vitest/node';
import { provisionTestServices } from './provision';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    databaseUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const services = await provisionTestServices();
  project.provide('temporalAddress', services.temporalAddress);
  project.provide('databaseUrl', services.databaseUrl);
  return services.stop;
}
