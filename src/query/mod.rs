pub mod logql;
