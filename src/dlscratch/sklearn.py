"""scikit-learn estimators around a dlscratch network (the ``sklearn`` extra).

``NeuralNetClassifier`` and ``NeuralNetRegressor`` build a multilayer perceptron of ``Dense``
layers, train it with a dlscratch optimizer in float32 and follow the estimator contract, so
they work in ``Pipeline``, ``GridSearchCV``, ``cross_val_score``, ``clone`` and pickle::

    from dlscratch.sklearn import NeuralNetClassifier
    clf = NeuralNetClassifier(hidden_layer_sizes=(64,), epochs=100, random_state=0)
    clf.fit(X_train, y_train).score(X_test, y_test)

The trained network is ``net_`` (a ``NeuralNetwork``; ``dlscratch.onnx.export`` and
``dlscratch.torch.to_torch`` take it). Constructors store their arguments untouched; ``fit``
checks them.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
except ImportError as error:  # pragma: no cover - the extra is installed in the tests
    raise ImportError("dlscratch.sklearn needs scikit-learn >= 1.6; install it with: "
                      "pip install \"dlscratch[sklearn]\"") from error

from .activations import ELU, GELU, LeakyReLU, Linear, ReLU, Sigmoid, Tanh
from .layers import Dense
from .losses import MeanSquaredError, SoftmaxCrossEntropy
from .network import NeuralNetwork
from .optimizers import SGD, AdaGrad, Adam, AdamW, RMSProp, SGDMomentum
from .validation import check_choice, check_number, check_positive

#: ``activation`` names (scikit-learn's and dlscratch's) and the activation of the hidden layers.
ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "logistic": Sigmoid, "sigmoid": Sigmoid,
               "identity": Linear, "linear": Linear, "leaky_relu": LeakyReLU, "elu": ELU,
               "gelu": GELU}
#: ``optimizer`` names, their class and the learning rate used when ``learning_rate`` is None.
OPTIMIZERS = {"sgd": (SGD, 0.01), "momentum": (SGDMomentum, 0.01), "adagrad": (AdaGrad, 0.01),
              "rmsprop": (RMSProp, 0.001), "adam": (Adam, 0.001), "adamw": (AdamW, 0.001)}
WEIGHT_INITS = ("auto", "standard", "glorot", "he")
#: With ``early_stopping``: epochs without a lower validation loss before training stops.
PATIENCE = 10

#: Checks of ``sklearn.utils.estimator_checks.check_estimator`` that these estimators cannot pass,
#: with the reason (handed to ``check_estimator(..., expected_failed_checks=...)``).
_FLOAT32_WEIGHTS = (
    "training runs in float32 (for speed), and a row of weight k rounds differently from k "
    "repeated rows; the two fits agree to float32 rounding after a few epochs "
    "(tests/test_sklearn.py checks it), but rounding differences grow over a long run and the "
    "check asks for a relative 1e-7")
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "NeuralNetClassifier": {"check_sample_weight_equivalence_on_dense_data": _FLOAT32_WEIGHTS},
    "NeuralNetRegressor": {"check_sample_weight_equivalence_on_dense_data": _FLOAT32_WEIGHTS},
}


class TrainingDiverged(ValueError):
    """``fit`` stopped: the loss or a parameter became NaN or infinite (the estimator is left
    unfitted). Lower ``learning_rate`` or scale the features."""


class _NetworkSettings:
    """The estimator's settings, checked, and the network and optimizer they describe."""

    def _hidden_sizes(self) -> tuple[int, ...]:
        owner = type(self).__name__
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = (sizes,)
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Iterable):
            raise TypeError(f"{owner}: hidden_layer_sizes must be a tuple of positive integers "
                            f"such as (100,) or (64, 32), got {self.hidden_layer_sizes!r}")
        sizes = tuple(sizes)
        for size in sizes:
            check_positive("hidden_layer_sizes", size, integer=True, owner=owner)
        return tuple(int(size) for size in sizes)

    def _check_params(self) -> None:
        owner = type(self).__name__
        self._hidden_sizes()
        check_choice("activation", self.activation, ACTIVATIONS, owner=owner)
        check_choice("optimizer", self.optimizer, OPTIMIZERS, owner=owner)
        if self.learning_rate is not None:
            check_positive("learning_rate", self.learning_rate, owner=owner)
        check_positive("epochs", self.epochs, integer=True, owner=owner)
        check_positive("batch_size", self.batch_size, integer=True, owner=owner)
        for name in ("early_stopping", "verbose"):
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)) and not (
                    isinstance(value, numbers.Integral) and value in (0, 1)):
                raise TypeError(f"{owner}: {name} must be True or False, got {value!r}")
        check_number("validation_fraction", self.validation_fraction, low=0, high=1,
                     high_open=True, owner=owner)
        check_choice("weight_init", self.weight_init, WEIGHT_INITS, owner=owner)
        check_number("dropout", self.dropout, low=0, high=1, low_open=False, high_open=True,
                     owner=owner)

    def _make_network(self, n_outputs: int, loss, seed: int, dtype=np.float32) -> NeuralNetwork:
        """Dense hidden layers of ``activation`` (+ dropout), then a linear output layer."""
        activation = ACTIVATIONS[self.activation]
        hidden_init = output_init = self.weight_init
        if self.weight_init == "auto":
            hidden_init = "he" if activation in (ReLU, LeakyReLU, ELU, GELU) else "glorot"
            output_init = "glorot"
        keep_prob = 1.0 - float(self.dropout)  # dlscratch's Dense takes the keep probability
        layers = [Dense(size, activation(), weight_init=hidden_init, dropout=keep_prob)
                  for size in self._hidden_sizes()]
        layers.append(Dense(n_outputs, Linear(), weight_init=output_init))
        return NeuralNetwork(layers, loss, seed=seed, dtype=dtype)

    def _make_optimizer(self):
        optimizer_class, default_lr = OPTIMIZERS[self.optimizer]
        lr = default_lr if self.learning_rate is None else float(self.learning_rate)
        return optimizer_class(lr=lr)


class _TargetHooks:
    """The validation split and what an estimator does with its targets, by default; the
    classifier and the regressor override these."""

    def _split_validation(self, X, Y, sample_weight):
        n = len(X)
        n_validation = math.ceil(self.validation_fraction * n)
        if n - n_validation < 1:
            raise ValueError(f"{type(self).__name__}.fit: early_stopping with "
                             f"validation_fraction={self.validation_fraction} needs at least one "
                             f"training and one validation sample, got n_samples = {n}")
        arrays = [X, Y] if sample_weight is None else [X, Y, sample_weight]
        parts = train_test_split(*arrays, test_size=n_validation, random_state=self._seed,
                                 stratify=self._stratify(Y, n_validation))
        X, X_val, Y, Y_val = parts[:4]
        weights, weights_val = (parts[4], parts[5]) if sample_weight is not None else (None, None)
        return X, Y, weights, (X_val, Y_val, weights_val)

    def _check_raw_targets(self, y) -> None:
        """Refuse targets of the wrong kind before scikit-learn converts them."""

    def _stratify(self, Y: np.ndarray, n_validation: int) -> np.ndarray | None:
        """The labels to stratify the validation split by (None: a plain random split)."""
        return None

    def _check_kept_targets(self, Y: np.ndarray, partial: bool) -> None:
        if len(Y) == 0:
            raise ValueError(f"{type(self).__name__}.fit: sample_weight is zero for every row; "
                             f"expected at least one positive weight")

    def _learn_target_scaling(self, Y: np.ndarray, sample_weight: np.ndarray | None) -> None:
        """Fix how targets are scaled for training (the regressor standardizes them)."""

    def _scaled_targets(self, Y: np.ndarray) -> np.ndarray:
        return Y


class _EstimatorTraining:
    """The training of a fit: epochs of shuffled mini-batches, the validation loss, early
    stopping on it, and what is kept when training diverges or is interrupted."""

    def _train(self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None,
               epochs: int, validation: tuple | None = None) -> None:
        """``epochs`` epochs of shuffled mini-batches; with ``validation`` (X, Y, weights), stop
        after ``PATIENCE`` epochs without a lower validation loss and keep the best parameters."""
        net, optimizer = self.net_, self._optimizer
        batch_size = min(int(self.batch_size), len(X))
        params = net.params()
        best_params, waited, diverged = None, 0, False
        # a diverging run overflows on its way to the clear error below: no NumPy warnings
        errors = np.errstate(all="ignore")
        try:
            errors.__enter__()
            for _ in range(epochs):
                epoch_loss = self._train_epoch(X, Y, sample_weight, batch_size)
                if not math.isfinite(epoch_loss) or not all(
                        np.isfinite(param).all() for param in params):
                    diverged = True
                    raise TrainingDiverged(
                        f"{type(self).__name__}.fit: training diverged (the loss became "
                        f"{epoch_loss:g} in epoch {self.n_iter_ + 1}) with learning_rate "
                        f"{optimizer.lr:g} and optimizer {self.optimizer!r}; lower "
                        f"learning_rate (try {optimizer.lr / 10:g}) or scale X (StandardScaler "
                        f"in a Pipeline); the estimator is left unfitted")
                self.loss_curve_.append(epoch_loss)
                self.n_iter_ += 1
                message = f"Epoch {self.n_iter_}: loss {epoch_loss:.6f}"
                if validation is not None:
                    val_loss = self._loss_of(*validation)
                    self.validation_loss_curve_.append(val_loss)
                    message += f", validation loss {val_loss:.6f}"
                    if self.best_validation_loss_ is None or val_loss < self.best_validation_loss_:
                        self.best_validation_loss_, waited = val_loss, 0
                        best_params = [param.copy() for param in params]
                    else:
                        waited += 1
                if self.verbose:
                    print(message)
                if validation is not None and waited >= PATIENCE:
                    if self.verbose:
                        print(f"Validation loss did not improve for {PATIENCE} epochs; stopping "
                              f"and keeping the parameters of epoch "
                              f"{self.n_iter_ - PATIENCE}")
                    break
        except KeyboardInterrupt:
            # as scikit-learn's MLP: Ctrl-C ends fit with the parameters reached so far
            warnings.warn(f"{type(self).__name__}.fit: training interrupted by the user after "
                          f"{self.n_iter_} epoch(s); the network keeps the parameters so far",
                          UserWarning, stacklevel=3)
        finally:
            errors.__exit__(None, None, None)
            net._release()
            if diverged or not all(np.isfinite(param).all() for param in params):
                self._forget_fit()
            else:
                if best_params is not None:
                    for param, best in zip(params, best_params):
                        param[...] = best
                self._update_inference_network()

    def _train_epoch(self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None,
                     batch_size: int) -> float:
        """One epoch of shuffled mini-batches, each followed by the optimizer's step; the
        epoch's (weighted) mean loss."""
        n = len(X)
        order = self._shuffle_rng.permutation(n)
        X_epoch, Y_epoch = X[order], Y[order]
        w_epoch = None if sample_weight is None else sample_weight[order]
        total = 0.0
        for start in range(0, n, batch_size):
            stop = start + batch_size
            weights = None if w_epoch is None else w_epoch[start:stop]
            loss = self._train_step(X_epoch[start:stop], Y_epoch[start:stop], weights)
            total += loss * (stop - start if weights is None else weights.sum())
            self._optimizer.step()
        return total / (n if sample_weight is None else sample_weight.sum())

    def _train_step(self, X: np.ndarray, Y: np.ndarray, weights: np.ndarray | None) -> float:
        """Forward, loss, backward on one batch; each row's gradient weighted by its weight."""
        net = self.net_
        prediction = net.forward(X)
        loss = net.loss._forward_checked(prediction, Y)
        grad = net.loss.backward()
        if weights is not None:
            # the loss's gradient is (row gradient) / batch: rescale to w_i / sum(w)
            scale = weights * (len(weights) / weights.sum())
            grad = grad * scale.astype(grad.dtype)[:, None]
            loss = float(self._row_losses(prediction, Y) @ weights) / float(weights.sum())
        net.backward(grad)
        return loss

    def _loss_of(self, X: np.ndarray, Y: np.ndarray, weights: np.ndarray | None) -> float:
        """The (weighted) mean loss of the network on X, in inference mode."""
        prediction = self.net_.predict(X)
        if weights is None:
            return self.net_.loss._forward_checked(prediction, Y)
        return float(self._row_losses(prediction, Y) @ weights) / float(weights.sum())


class _NeuralNetEstimator(_EstimatorTraining, _NetworkSettings, _TargetHooks, BaseEstimator):
    """What both estimators share: parameters, the network, the training loop, prediction."""

    def __init__(self, hidden_layer_sizes: int | tuple[int, ...] = (100,),
                 activation: str = "relu", optimizer: str = "adam",
                 learning_rate: float | None = None, epochs: int = 100, batch_size: int = 32,
                 early_stopping: bool = False, validation_fraction: float = 0.1,
                 weight_init: str = "auto", dropout: float = 0.0,
                 random_state: int | np.random.RandomState | None = None,
                 verbose: bool = False) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.weight_init = weight_init
        self.dropout = dropout
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fitting
    def _initialize(self, n_outputs: int, loss) -> None:
        """A new network and optimizer; the seed comes from ``random_state``."""
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        self._seed = seed
        self.net_ = self._make_network(n_outputs, loss, seed)
        self.net_.build(self.n_features_in_)
        self._inference_net = None
        self._optimizer = self._make_optimizer()
        self._optimizer.net = self.net_
        self._shuffle_rng = np.random.default_rng([seed, 1])
        self.loss_curve_: list[float] = []
        self.validation_loss_curve_: list[float] | None = None
        self.best_validation_loss_: float | None = None
        self.n_iter_ = 0

    def _forget_fit(self) -> None:
        """Back to unfitted (``predict`` raises NotFittedError): a diverged network is no model."""
        for name in list(vars(self)):
            if (name.endswith("_") and not name.startswith("__")) or name in (
                    "_inference_net", "_optimizer", "_shuffle_rng", "_seed"):
                delattr(self, name)

    def _update_inference_network(self) -> None:
        """A float64 twin of ``net_`` for ``predict``: training runs in float32 for speed, but
        the float64 forward makes each row's prediction independent of the other rows in the
        batch (float32 matrix products round differently for one row and for many)."""
        twin = getattr(self, "_inference_net", None)
        if twin is None:
            twin = self._make_network(self._n_outputs(), self._make_loss(), self._seed,
                                      dtype=np.float64)
            twin.build(self.n_features_in_)
            self._inference_net = twin
        twin.load_state_dict(self.net_.state_dict())

    def _fit(self, X, y, sample_weight, partial: bool, classes=None):
        self._check_params()
        first = not partial or not hasattr(self, "net_")
        self._check_raw_targets(y)
        X, y = validate_data(self, X, y, reset=first, dtype=np.float32,
                             **self._target_check_params())
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                                 ensure_non_negative=True)
        Y = self._encode_targets(y, first, classes, partial)
        if sample_weight is not None:
            # rows of zero weight are left out, as if they were not there
            kept = sample_weight > 0
            X, Y, sample_weight = X[kept], Y[kept], sample_weight[kept]
            self._check_kept_targets(Y, partial)
        if first:
            self._learn_target_scaling(Y, sample_weight)
            self._initialize(self._n_outputs(), self._make_loss())
        Y = self._scaled_targets(Y)
        if partial:
            self._train(X, Y, sample_weight, epochs=1)
            return self
        validation = None
        if self.early_stopping:
            X, Y, sample_weight, validation = self._split_validation(X, Y, sample_weight)
            self.validation_loss_curve_ = []
        self._train(X, Y, sample_weight, int(self.epochs), validation)
        return self

    # ------------------------------------------------------------------ prediction
    def _network_output(self, X) -> np.ndarray:
        """The network's output for X in float64, after scikit-learn's checks of X."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self._inference_net.predict(X)


class NeuralNetClassifier(ClassifierMixin, _NeuralNetEstimator):
    """A multilayer perceptron classifier: softmax cross-entropy on a linear output layer.

    Parameters (the defaults train well on standardized features as they are):

    hidden_layer_sizes : tuple of int, default (100,)
        Neurons of each hidden ``Dense`` layer; ``()`` gives a linear (softmax regression) model.
    activation : str, default "relu"
        Of the hidden layers: "relu", "tanh", "logistic" (or "sigmoid"), "identity" (or
        "linear"), "leaky_relu", "elu", "gelu".
    optimizer : str, default "adam"
        "sgd", "momentum" (SGD with momentum 0.9), "adagrad", "rmsprop", "adam", "adamw".
    learning_rate : float or None, default None
        None: 0.001 for "adam", "adamw" and "rmsprop", 0.01 for the others.
    epochs : int, default 100
        Passes over the training data (``fit`` runs them all unless ``early_stopping`` stops it).
    batch_size : int, default 32
        Rows per mini-batch (at most the number of rows).
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the rows (stratified), stop after 10 epochs without
        a lower validation loss and keep the parameters of the best epoch.
    validation_fraction : float, default 0.1
        The held-out share with ``early_stopping``.
    weight_init : str, default "auto"
        "auto" (He for the ReLU family, Glorot otherwise, Glorot for the output layer),
        "glorot", "he" or "standard" (the book's N(0, 1)).
    dropout : float, default 0.0
        The fraction of hidden units dropped in training (as in Keras; 0 for none). dlscratch's
        ``Dense`` takes the keep probability, ``1 - dropout``.
    random_state : int, RandomState or None, default None
        Seeds the initial weights, the shuffling and the validation split.
    verbose : bool, default False
        Print the loss of every epoch.

    Attributes: ``classes_``, ``n_features_in_``, ``feature_names_in_`` (when X has column
    names), ``net_`` (the trained ``NeuralNetwork``: its outputs are logits), ``loss_curve_``
    (the mean training loss of each epoch), ``validation_loss_curve_`` and
    ``best_validation_loss_`` (with ``early_stopping``), ``n_iter_`` (epochs run).
    """

    def fit(self, X, y, sample_weight=None) -> NeuralNetClassifier:
        """Train a new network on X (n_samples, n_features) and labels y (n_samples,)."""
        return self._fit(X, y, sample_weight, partial=False)

    def partial_fit(self, X, y, classes=None, sample_weight=None) -> NeuralNetClassifier:
        """One epoch over (X, y), continuing from the current network; the first call needs
        ``classes``, every label that will ever appear."""
        return self._fit(X, y, sample_weight, partial=True, classes=classes)

    def predict(self, X) -> np.ndarray:
        """The most likely class of each row."""
        output = self._network_output(X)
        return self.classes_[np.argmax(output, axis=1)]

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n_samples, n_classes), in the order of ``classes_``."""
        return np.exp(self.predict_log_proba(X))

    def predict_log_proba(self, X) -> np.ndarray:
        """Log class probabilities: log-softmax of the network's logits, in float64."""
        logits = self._network_output(X)
        shifted = logits - logits.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))

    # ------------------------------------------------------------------ targets
    def _target_check_params(self) -> dict:
        return {}

    def _encode_targets(self, y, first: bool, classes, partial: bool) -> np.ndarray:
        owner = type(self).__name__
        check_classification_targets(y)
        if first:
            if partial:
                if classes is None:
                    raise ValueError(f"{owner}.partial_fit: classes must be passed on the first "
                                     f"call to partial_fit (every label that will appear)")
                self.classes_ = np.unique(np.asarray(classes))
            else:
                self.classes_ = np.unique(y)
            if len(self.classes_) < 2:
                raise ValueError(f"{owner} needs samples of at least 2 classes in the data, but "
                                 f"the data contains only one class: {self.classes_[0]!r}")
        elif partial and classes is not None \
                and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
            raise ValueError(f"{owner}.partial_fit: classes={classes!r} differs from the "
                             f"classes of the first call, {self.classes_!r}")
        labels = np.searchsorted(self.classes_, y)
        labels = np.minimum(labels, len(self.classes_) - 1)
        unknown = self.classes_[labels] != y
        if np.any(unknown):
            raise ValueError(f"{owner}.partial_fit: y holds the label {y[np.argmax(unknown)]!r}, "
                             f"which is not in classes {self.classes_!r}")
        return labels.astype(np.int64)

    def _check_kept_targets(self, Y: np.ndarray, partial: bool) -> None:
        super()._check_kept_targets(Y, partial)
        present = np.unique(Y)
        if len(present) < 2 and not partial:
            raise ValueError(f"{type(self).__name__}: sample_weight leaves samples of only one "
                             f"class ({self.classes_[present[0]]!r}); a classifier needs "
                             f"samples of at least 2 classes with positive weight")

    def _stratify(self, Y: np.ndarray, n_validation: int) -> np.ndarray | None:
        # stratified where every class can be on both sides, else a plain random split
        counts = np.bincount(Y)
        counts = counts[counts > 0]
        possible = counts.min() >= 2 and min(n_validation, len(Y) - n_validation) >= len(counts)
        return Y if possible else None

    def _n_outputs(self) -> int:
        return len(self.classes_)

    def _make_loss(self):
        return SoftmaxCrossEntropy()

    @staticmethod
    def _row_losses(prediction: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """-log softmax(prediction)[label] of each row, in float64."""
        logits = prediction.astype(np.float64)
        top = logits.max(axis=1)
        log_sum_exp = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
        return log_sum_exp - logits[np.arange(len(labels)), labels]


class NeuralNetRegressor(RegressorMixin, _NeuralNetEstimator):
    """A multilayer perceptron regressor: mean squared error on a linear output layer.

    The parameters are those of ``NeuralNetClassifier`` (see there) with the same defaults;
    ``early_stopping`` holds out a random (not stratified) share. y may have one column per
    output (multi-output regression). The targets are standardized for training (each column
    to mean 0 and standard deviation 1, with the weights of ``sample_weight``; the first
    ``partial_fit`` call fixes them) and ``predict`` maps the network's outputs back, so the
    defaults train well whatever the scale of y: ``net_`` predicts
    ``(y - y_mean_) / y_scale_``, and ``loss_curve_`` is in those units.
    """

    def fit(self, X, y, sample_weight=None) -> NeuralNetRegressor:
        """Train a new network on X (n_samples, n_features) and y (n_samples,) or
        (n_samples, n_outputs)."""
        return self._fit(X, y, sample_weight, partial=False)

    def partial_fit(self, X, y, sample_weight=None) -> NeuralNetRegressor:
        """One epoch over (X, y), continuing from the current network."""
        return self._fit(X, y, sample_weight, partial=True)

    def predict(self, X) -> np.ndarray:
        """Predictions in the units of y: (n_samples,) or (n_samples, n_outputs) as y was."""
        prediction = self._unscaled(self._network_output(X))
        return prediction.ravel() if self._y_1d else prediction

    def score(self, X, y, sample_weight=None) -> float:
        """R^2 of the predictions, as scikit-learn's ``r2_score``, computed on y and the
        predictions divided by a power of two per output (exact), so targets near 1e300 or
        1e-300 neither overflow nor underflow."""
        from sklearn.metrics import r2_score

        predicted = np.asarray(self.predict(X), dtype=np.float64)
        target = np.asarray(y, dtype=np.float64)
        P, T = predicted.reshape(len(predicted), -1), target.reshape(len(target), -1)
        largest = np.maximum(np.abs(P).max(axis=0, initial=0.0),
                             np.abs(T).max(axis=0, initial=0.0))
        largest = np.where(np.isfinite(largest) & (largest > 0), largest, 1.0)
        power = np.ldexp(1.0, np.frexp(largest)[1])
        return float(r2_score((T / power).reshape(target.shape),
                              (P / power).reshape(predicted.shape),
                              sample_weight=sample_weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    # ------------------------------------------------------------------ targets
    def _target_check_params(self) -> dict:
        return {"multi_output": True, "y_numeric": True}

    def _check_raw_targets(self, y) -> None:
        """Numbers only: text that spells numbers ("1.5") or booleans are refused, not cast."""
        values = np.asarray(y)
        if values.dtype.kind in "USb" or (values.dtype.kind == "O" and any(
                isinstance(value, (str, bytes, bool, np.bool_)) for value in values.ravel())):
            raise ValueError(f"{type(self).__name__}.fit: y must hold numbers, got "
                             f"{values.dtype.name} values such as "
                             f"{values.ravel()[:1].tolist()!r}; convert them first "
                             f"(np.asarray(y, dtype=float)) if they are numbers written as text")

    def _encode_targets(self, y, first: bool, classes, partial: bool) -> np.ndarray:
        y = y.astype(np.float64)
        Y = y.reshape(len(y), -1)
        if first:
            self._y_1d = y.ndim == 1
            self._target_columns = Y.shape[1]
        elif Y.shape[1] != self._target_columns:
            raise ValueError(f"{type(self).__name__}.partial_fit: y has {Y.shape[1]} output(s) "
                             f"per row, but the first call had {self._target_columns}")
        return Y

    def _learn_target_scaling(self, Y: np.ndarray, sample_weight: np.ndarray | None) -> None:
        """The weighted mean and standard deviation of each column, computed on Y / max|Y| so
        that no sum or square overflows or underflows (any finite scale, 1e-300 to 1e300). A
        column whose values are all equal is predicted as that value exactly."""
        magnitude = np.abs(Y).max(axis=0)
        magnitude = np.where(magnitude > 0, magnitude, 1.0)
        Z = Y / magnitude
        mean_z = np.average(Z, axis=0, weights=sample_weight)
        std_z = np.sqrt(np.average((Z - mean_z) ** 2, axis=0, weights=sample_weight))
        self._y_magnitude = magnitude
        self._y_constant = (Y == Y[0]).all(axis=0) | (std_z == 0)
        self._y_mean_z = np.where(self._y_constant, Z[0], mean_z)
        self._y_std_z = np.where(self._y_constant, 1.0, std_z)
        self.y_mean_ = np.where(self._y_constant, Y[0], mean_z * magnitude)
        self.y_scale_ = np.where(self._y_constant, 1.0, std_z * magnitude)

    def _scaled_targets(self, Y: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            Z = (Y / self._y_magnitude - self._y_mean_z) / self._y_std_z
        return Z.astype(np.float32)

    def _unscaled(self, output: np.ndarray) -> np.ndarray:
        """The network's output in the units of y; a constant column is its value exactly."""
        with np.errstate(over="ignore"):
            values = (output * self._y_std_z + self._y_mean_z) * self._y_magnitude
        return np.where(self._y_constant, self.y_mean_, values)

    def _n_outputs(self) -> int:
        return self._target_columns

    def _make_loss(self):
        return MeanSquaredError()

    @staticmethod
    def _row_losses(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
        """The squared error of each row, summed over the outputs, in float64."""
        difference = prediction.astype(np.float64) - target
        return (difference * difference).sum(axis=1)


__all__ = ["NeuralNetClassifier", "NeuralNetRegressor", "TrainingDiverged",
           "EXPECTED_FAILED_CHECKS"]
