import { stepHandler } from '../shared/step-handler.ts';
import { warehouseStep } from './step.ts';

// Wiring only: the step is `step.ts`, its rules `logic.ts`.
export const handler = stepHandler('warehouse', ({ orders }) => warehouseStep({ orders }));
