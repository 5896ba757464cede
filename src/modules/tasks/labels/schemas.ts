import { type Static, Type } from 'typebox';
import { Count, SAFE_TEXT, UNSTORABLE } from '../../../lib/schemas.js';
import { WHITE_SPACE } from '../../../lib/text.js';

/** Labels a task may carry, and the longest label, counted after trimming. */
export const MAX_LABELS = 20;
export const LABEL_MAX = 50;
/** A label as sent may carry surrounding white space up to this length in all. */
const LABEL_MAX_RAW = 200;
const LABEL_PATH_MAX_RAW = 100;

// Control characters (Unicode Cc) are refused anywhere in a label, even the ones that are white space
// (tab, line feed, NEL): what may surround a label is white space that is not a control character.
const CONTROLS = '\\u0000-\\u001F\\u007F-\\u009F';
const SPACES = ' \\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000';
const EDGE = `[^${WHITE_SPACE}${CONTROLS}${UNSTORABLE}`;
const INNER = `[^${CONTROLS}${UNSTORABLE}`;

/**
 * A label's pattern (without anchors), `excluded` characters left out (the filter's separator): the core
 * starts and ends with a character that is not white space, the surrounding white space is unbounded but
 * disjoint from the core's edges and the core is bounded, so the match is linear in the length.
 */
const labelPattern = (excluded = '') =>
  `[${SPACES}]*${EDGE}${excluded}](?:${INNER}${excluded}]{0,${LABEL_MAX - 2}}${EDGE}${excluded}])?[${SPACES}]*`;

const LABEL_RULE = `1 to ${LABEL_MAX} characters once surrounding white space is trimmed, no control characters; stored trimmed`;

/** A label as sent: in a task's body, or in the path of the label routes. */
export const LabelName = Type.String({
  minLength: 1,
  maxLength: LABEL_MAX_RAW,
  pattern: `^${labelPattern()}$`,
  description: `A label: ${LABEL_RULE}. Case-insensitive: "Home" and "home" are the same label`,
  examples: ['home'],
});

/** A label as the API shows it (trimmed). */
const ShownLabel = Type.String({ minLength: 1, maxLength: LABEL_MAX, pattern: SAFE_TEXT, examples: ['home'] });

export const TaskLabels = Type.Array(ShownLabel, {
  maxItems: MAX_LABELS,
  description:
    "The task's labels, sorted by name (case-insensitively). Labels are the owner's: one name in any case is one label, spelled as it was first written",
  examples: [['home', 'Urgent']],
});

export const TaskLabelsInput = Type.Array(LabelName, {
  maxItems: MAX_LABELS,
  description: `0 to ${MAX_LABELS} labels (${LABEL_RULE}); the same label twice, in any case, counts once. Replaces the whole list`,
  examples: [['home', 'urgent']],
});

/** `label=home,work`: the labels (comma-separated) a listed task must all carry. */
export const LabelFilter = Type.String({
  minLength: 1,
  maxLength: (LABEL_MAX_RAW + 1) * MAX_LABELS,
  pattern: `^${labelPattern(',')}(?:,${labelPattern(',')})*$`,
  description:
    'One label or several, comma-separated: the tasks that carry all of them (any case). An unknown label matches no task',
  examples: ['home,urgent'],
});

export const LabelSummary = Type.Object(
  {
    name: ShownLabel,
    task_count: Count({
      description: "How many of the caller's tasks carry the label (0: in the vocabulary, on no task)",
      examples: [3],
    }),
  },
  { title: 'Label', additionalProperties: false },
);
export type LabelSummary = Static<typeof LabelSummary>;

export const LabelParams = Type.Object(
  {
    // Shorter as sent than in a body: within the router's bound on a path parameter, so a long one is a 422 like any other.
    name: {
      ...LabelName,
      maxLength: LABEL_PATH_MAX_RAW,
      description: `The label's name, URL-encoded, in any case (${LABEL_RULE}; at most ${LABEL_PATH_MAX_RAW} characters as sent)`,
    },
  },
  { additionalProperties: false },
);

export const LabelRenameBody = Type.Object(
  {
    name: {
      ...LabelName,
      description: `The new name (${LABEL_RULE}). If another label of that name (any case) exists, the two merge into it`,
      examples: ['household'],
    },
  },
  { title: 'LabelUpdate', additionalProperties: false },
);
