import { retryingDeadlock } from '../../../db/errors.js';
import { primaryReads, type ReadRouter } from '../../../db/read-router.js';
import { notFound } from '../../../lib/errors.js';
import { trimWhiteSpace } from '../../../lib/text.js';
import { actorOf } from '../../events/events.js';
import type { UnitOfWork } from '../../events/unit-of-work.js';
import type { CurrentUser } from '../../sessions/current-user.js';
import { labelDeletedEvent, labelRenamedEvent } from './events.js';
import type { LabelsRepository } from './repository.js';
import type { LabelSummary } from './schemas.js';

// Another user's label is as unknown as a label nobody has.
const LABEL_NOT_FOUND = 'Label not found';

/**
 * The caller's label vocabulary. A rename or a delete locks the label's tasks before the label, as task
 * writes do (labels/repository.ts); a task that gains the label while they wait can still make a
 * deadlock, which PostgreSQL breaks by aborting one side: that side runs once more. Every route acts on the caller's own labels, admins' included: a
 * label is a word of its owner's, not an object others manage. Names are matched in any case.
 */
export function createLabelsService(
  repository: LabelsRepository,
  { unitOfWork, reads = primaryReads(repository) }: { unitOfWork: UnitOfWork; reads?: ReadRouter<LabelsRepository> },
) {
  return {
    list(user: CurrentUser): Promise<LabelSummary[]> {
      return reads.run(user.id, (labels) => labels.list(user.id));
    },

    /** A rename or a merge records label.renamed, with its tasks' task.updated events, in its transaction. */
    async rename(user: CurrentUser, name: string, to: string): Promise<LabelSummary> {
      const renamed = await retryingDeadlock(() =>
        unitOfWork.run(async (work) => {
          const actor = actorOf(user);
          const result = await repository.rename(work, user.id, trimWhiteSpace(name), trimWhiteSpace(to), actor);
          const change = result?.change;
          if (change) await work.record(() => [labelRenamedEvent(actor, user.id, change)]);
          return result;
        }),
      );
      if (!renamed) throw notFound(LABEL_NOT_FOUND);
      return renamed.label;
    },

    /** A delete records label.deleted, with its tasks' task.updated events, in its transaction. */
    async remove(user: CurrentUser, name: string): Promise<void> {
      const deleted = await retryingDeadlock(() =>
        unitOfWork.run(async (work) => {
          const actor = actorOf(user);
          const result = await repository.delete(work, user.id, trimWhiteSpace(name), actor);
          if (result) await work.record(() => [labelDeletedEvent(actor, user.id, result)]);
          return result;
        }),
      );
      if (!deleted) throw notFound(LABEL_NOT_FOUND);
    },
  };
}

export type LabelsService = ReturnType<typeof createLabelsService>;
