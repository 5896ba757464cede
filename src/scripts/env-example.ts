import { writeFileSync } from 'node:fs';
import { envExample } from '../config.js';

/** `npm run env:example`: writes .env.example from the configuration schema (src/config/schema.ts). */
writeFileSync(process.argv[2] ?? '.env.example', envExample());
