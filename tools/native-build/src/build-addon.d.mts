/** What `buildAddon` needs to know of one addon. */
export interface AddonSpec {
  /** The addon's directory (holding binding.gyp and the sources). */
  dir: string;
  /** The target name in binding.gyp: the file is build/Release/NAME.node. */
  name: string;
  /** Source files relative to `dir` (binding.gyp is added): a newer one triggers a rebuild. */
  sources: readonly string[];
  /** The warning's subject, e.g. "ctl-block: native helper". */
  label: string;
  /** What the package does without the addon (the end of the warning). */
  without: string;
  /** Environment switch that skips the build when set to 0, e.g. CTL_BLOCK_NATIVE. */
  switchEnv: string;
  /** Files that must exist (system headers), each with what provides them. */
  requires?: readonly (readonly [file: string, what: string])[];
}

/** Builds the addon, or warns once and exits 0 (never fails the build). */
export function buildAddon(spec: AddonSpec): void;
