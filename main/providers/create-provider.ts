// Picks the Provider implementation the spec asks for. Add a provider by adding a case here.

import type { BaseImage } from '../image/build-image.ts';
import type { LabPaths } from '../lab/lab-dir.ts';
import type { Plan } from '../plan/address-plan.ts';
import type { ClusterSpec } from '../spec/cluster-spec.ts';
import { ProviderError, type Provider } from './provider.ts';
import { QemuProvider } from './qemu/qemu-provider.ts';
import { libvirtProviderFor } from './libvirt/libvirt-provider.ts';
import { vagrantProviderFor } from './vagrant/vagrant-provider.ts';

export interface ProviderContext {
  plan: Plan;
  spec: ClusterSpec;
  paths: LabPaths;
  /** One authorized_keys line: the lab's SSH public key. */
  sshPublicKey: string;
  /** The built base image, when the caller already has it (else providers look it up). */
  image?: BaseImage;
}

export function createProvider(context: ProviderContext): Provider {
  const name: string = context.spec.provider;
  switch (context.spec.provider) {
    case 'qemu':
      return new QemuProvider(context);
    case 'libvirt':
      return libvirtProviderFor(context);
    case 'vagrant':
      return vagrantProviderFor(context);
    default:
      throw new ProviderError(`the "${name}" provider is not available yet`, {
        hint: 'use `provider: qemu` in hardway-lab.yaml',
      });
  }
}
