import EmberNN

extension Trainer {
    /// A trainer for a (denoising) convolutional autoencoder: each step minimises the batch mean of the per-image
    /// reconstruction loss (inputs corrupted first when the model's `noiseStd` > 0) and logs it as "loss"; validation
    /// gives "val_loss" (clean inputs) and "val_mse" (mean squared error per pixel). Checkpoints hold the model (with
    /// its noise generator) and the optimizer. Batches' targets are ignored.
    public static func autoencoder(_ model: ConvAutoEncoder, optimizer: Optimizer,
                                   schedulers: KeyValuePairs<String, LRScheduler> = [:]) -> Trainer {
        Trainer(models: ["autoencoder": model], optimizers: ["optim": optimizer], schedulers: schedulers,
                validationStep: { batch, _ in
                    ["loss": model.reconstructionLoss(batch.input).mean().item(),
                     "mse": model.reconstructionError(batch.input).mean().item()]
                }) { batch, _ in
            optimizer.zeroGrad()
            let loss = model.trainingLoss(batch.input)
            loss.backward()
            optimizer.step()
            return ["loss": loss.item()]
        }
    }

    /// A trainer for a convolutional VAE: each step minimises the batch mean of reconstruction + β·KL, with β from
    /// `annealing` at the trainer's step (1 without annealing), and logs "loss" (that objective), "nelbo" (the negative
    /// ELBO, nats per image), "reconstruction", "kl" and "beta"; validation gives "val_nelbo", "val_reconstruction" and
    /// "val_kl" (one reparameterised sample per image from the model's seeded noise generator).
    public static func vae(_ model: ConvVAE, optimizer: Optimizer, annealing: KLAnnealing = KLAnnealing(steps: 0),
                           schedulers: KeyValuePairs<String, LRScheduler> = [:]) -> Trainer {
        Trainer(models: ["vae": model], optimizers: ["optim": optimizer], schedulers: schedulers,
                validationStep: { batch, _ in
                    let t = model.lossTerms(batch.input)
                    return ["nelbo": t.negativeELBO.mean().item(), "reconstruction": t.reconstruction.mean().item(),
                            "kl": t.kl.mean().item()]
                }) { batch, trainer in
            optimizer.zeroGrad()
            let t = model.lossTerms(batch.input)
            let beta = annealing.beta(step: trainer.step)
            let loss = t.loss(beta: beta)
            loss.backward()
            optimizer.step()
            let rec = t.reconstruction.mean().item(), kl = t.kl.mean().item()
            return ["loss": loss.item(), "nelbo": rec + kl, "reconstruction": rec, "kl": kl, "beta": beta]
        }
    }
}
