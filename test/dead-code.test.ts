import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/** Every .ts file under the given folders, with its text (paths relative to the repository). */
async function sources(...folders: string[]): Promise<Array<{ file: string; text: string }>> {
  const all = await Promise.all(
    folders.map(async (folder) =>
      (await readdir(folder, { recursive: true })).filter((f) => f.endsWith('.ts')).map((f) => path.join(folder, f)),
    ),
  );
  return Promise.all(all.flat().map(async (file) => ({ file, text: await readFile(file, 'utf8') })));
}

const literally = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

describe('no dead code or dependency', () => {
  it('every name src/ exports is used somewhere besides its declaration (src/, test/ or bench/)', async () => {
    const files = await sources('src', 'test', 'bench');
    const dead: string[] = [];
    for (const { file, text } of files.filter(({ file }) => file.startsWith(`src${path.sep}`))) {
      for (const [, name] of text.matchAll(/^export (?:async )?(?:type|interface|const|let|function|class|enum) (\w+)/gm)) {
        const word = new RegExp(`\\b${name}\\b`, 'g');
        const uses = files.reduce((n, f) => n + (f.text.match(word)?.length ?? 0), 0);
        if (uses <= 1) dead.push(`${file}: ${name}`);
      }
    }
    expect(dead).toEqual([]);
  });

  it('every runtime dependency in package.json is imported by src/', async () => {
    const { dependencies } = JSON.parse(await readFile('package.json', 'utf8')) as { dependencies: Record<string, string> };
    const files = await sources('src');
    const unused = Object.keys(dependencies).filter((name) => {
      const imported = new RegExp(`(from |import\\()'${literally(name)}(/[^']*)?'`);
      return !files.some(({ text }) => imported.test(text));
    });
    expect(unused).toEqual([]);
  });
});
