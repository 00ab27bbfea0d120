// Entry point of the standalone binary: extract the worker files first (extract.ts, evaluated
// before anything it precedes here: ES modules run in import order), then the ordinary CLI.
// Bundled into one ES module by tools/build-sea.ts; never run from source.

import './extract.ts'
import '../../src/portico.ts'
