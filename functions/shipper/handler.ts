import { stepHandler } from '../shared/step-handler.ts';
import { shipperStep } from './step.ts';

// Wiring only: the step is `step.ts`, its rules `logic.ts`.
export const handler = stepHandler('shipper', ({ orders }) => shipperStep({ orders }));
