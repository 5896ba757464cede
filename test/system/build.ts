import { execFileSync } from 'node:child_process';

/**
 * Global setup of the system tests: they start `node dist/…` the way a user does, so dist/ is built
 * from the source under test once, before any of them runs (`npm run build`).
 */
export default function build() {
  execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
}
