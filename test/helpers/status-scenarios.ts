// Scenarios for the dashboard's status, run inside a network namespace by the tests (netns.ts).

import { LabService } from '../../main/api/lab-service.ts';
import type { LabStatus } from '../../main/shared/api-contract.ts';

/** The dashboard's status of the lab in `labDir`, as the app computes it. */
export async function labStatus(args: { labDir: string }): Promise<LabStatus> {
  const service = await LabService.create({ lab: args.labDir });
  try {
    return await service.call('getStatus', []);
  } finally {
    await service.dispose();
  }
}
