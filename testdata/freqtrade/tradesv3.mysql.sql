SET FOREIGN_KEY_CHECKS=0;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `KeyValueStore` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `key` varchar(50) NOT NULL,
  `value_type` varchar(20) NOT NULL,
  `string_value` varchar(255) DEFAULT NULL,
  `datetime_value` datetime DEFAULT NULL,
  `float_value` double DEFAULT NULL,
  `int_value` int(11) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `ix_KeyValueStore_key` (`key`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `orders` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `ft_trade_id` int(11) NOT NULL,
  `ft_order_side` varchar(25) NOT NULL,
  `ft_pair` varchar(25) NOT NULL,
  `ft_is_open` tinyint(1) NOT NULL,
  `ft_amount` float NOT NULL,
  `ft_price` float NOT NULL,
  `ft_cancel_reason` varchar(255) DEFAULT NULL,
  `order_id` varchar(255) NOT NULL,
  `status` varchar(255) DEFAULT NULL,
  `symbol` varchar(25) DEFAULT NULL,
  `order_type` varchar(50) DEFAULT NULL,
  `side` varchar(25) DEFAULT NULL,
  `price` float DEFAULT NULL,
  `average` float DEFAULT NULL,
  `amount` float DEFAULT NULL,
  `filled` float DEFAULT NULL,
  `remaining` float DEFAULT NULL,
  `cost` float DEFAULT NULL,
  `stop_price` float DEFAULT NULL,
  `order_date` datetime DEFAULT NULL,
  `order_filled_date` datetime DEFAULT NULL,
  `order_update_date` datetime DEFAULT NULL,
  `funding_fee` float DEFAULT NULL,
  `ft_fee_base` float DEFAULT NULL,
  `ft_order_tag` varchar(255) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `_order_pair_order_id` (`ft_pair`,`order_id`),
  KEY `ix_orders_ft_is_open` (`ft_is_open`),
  KEY `ix_orders_order_id` (`order_id`),
  KEY `ix_orders_ft_trade_id` (`ft_trade_id`),
  CONSTRAINT `orders_ibfk_1` FOREIGN KEY (`ft_trade_id`) REFERENCES `trades` (`id`)
) ENGINE=InnoDB AUTO_INCREMENT=13 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
INSERT INTO `orders` VALUES
(1,1,'buy','BTC/USDC:USDC',0,0.0125,97000.5,NULL,'1000000001','closed','BTC/USDC:USDC','limit','buy',97000.5,97000.5,0.0125,0.0125,0,1212.51,NULL,'2025-01-06 14:30:00','2025-01-06 14:30:02','2025-01-06 14:30:02',0,NULL,'breakout'),
(2,2,'sell','ETH/USDC:USDC',0,1.5,3412.25,NULL,'1000000002','closed','ETH/USDC:USDC','limit','sell',3412.25,3412.25,1.5,1.5,0,5118.38,NULL,'2025-01-06 14:35:00','2025-01-06 14:35:01','2025-01-06 14:35:01',0,NULL,'mean_revert'),
(3,3,'buy','SOL/USDC:USDC',0,20,187.35,NULL,'1000000003','closed','SOL/USDC:USDC','limit','buy',187.35,187.35,20,20,0,3747,NULL,'2025-01-06 14:40:00','2025-01-06 14:40:03','2025-01-06 14:40:03',0,NULL,'breakout'),
(4,3,'sell','SOL/USDC:USDC',0,20,195.1,NULL,'1000000004','closed','SOL/USDC:USDC','limit','sell',195.1,195.1,20,20,0,3902,NULL,'2025-01-06 17:30:00','2025-01-06 17:30:04','2025-01-06 17:30:04',-0.0625,NULL,'exit_signal'),
(5,4,'sell','HYPE/USDC:USDC',0,150,24.818,NULL,'1000000005','closed','HYPE/USDC:USDC','limit','sell',24.818,24.818,150,150,0,3722.7,NULL,'2025-01-06 14:45:00','2025-01-06 14:45:02','2025-01-06 14:45:02',0,NULL,'mean_revert'),
(6,4,'buy','HYPE/USDC:USDC',0,150,23.5,NULL,'1000000006','closed','HYPE/USDC:USDC','limit','buy',23.5,23.5,150,150,0,3525,NULL,'2025-01-06 19:30:00','2025-01-06 19:30:01','2025-01-06 19:30:01',0.125,NULL,'force_exit'),
(7,5,'buy','HYPE/USDC:USDC',0,80,23.75,NULL,'1000000007','closed','HYPE/USDC:USDC','limit','buy',23.75,23.75,80,80,0,1900,NULL,'2025-01-06 19:40:00','2025-01-06 19:40:02','2025-01-06 19:40:02',0,NULL,'breakout'),
(8,6,'sell','BTC/USDC:USDC',0,0.004,96500,NULL,'1000000008','closed','BTC/USDC:USDC','limit','sell',96500,96500,0.004,0.004,0,386,NULL,'2025-01-06 14:50:00','2025-01-06 14:50:01','2025-01-06 14:50:01',0,NULL,'mean_revert'),
(9,6,'buy','BTC/USDC:USDC',0,0.004,98900,NULL,'1000000009','closed','BTC/USDC:USDC','limit','buy',98900,98900,0.004,0.004,0,395.6,NULL,'2025-01-06 15:30:00','2025-01-06 15:30:01','2025-01-06 15:30:01',0,NULL,'stop_loss'),
(10,7,'sell','SOL/USDC:USDC',0,12.5,201.4,NULL,'1000000010','closed','SOL/USDC:USDC','limit','sell',201.4,201.4,12.5,12.5,0,2517.5,NULL,'2025-01-06 20:30:00','2025-01-06 20:30:02','2025-01-06 20:30:02',0,NULL,'mean_revert'),
(11,7,'buy','SOL/USDC:USDC',1,12.5,190,NULL,'1000000011','open','SOL/USDC:USDC','limit','buy',190,NULL,12.5,0,12.5,0,NULL,'2025-01-06 21:30:00',NULL,'2025-01-06 21:30:00',NULL,NULL,'roi'),
(12,8,'buy','ETH/USDC:USDC',1,0.75,3300,NULL,'1000000012','open','ETH/USDC:USDC','limit','buy',3300,NULL,0.75,0,0.75,0,NULL,'2025-01-06 22:30:00',NULL,'2025-01-06 22:30:00',NULL,NULL,'breakout');
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `pairlocks` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `pair` varchar(25) NOT NULL,
  `side` varchar(25) NOT NULL,
  `reason` varchar(255) DEFAULT NULL,
  `lock_time` datetime NOT NULL,
  `lock_end_time` datetime NOT NULL,
  `active` tinyint(1) NOT NULL,
  PRIMARY KEY (`id`),
  KEY `ix_pairlocks_pair` (`pair`),
  KEY `ix_pairlocks_lock_end_time` (`lock_end_time`),
  KEY `ix_pairlocks_active` (`active`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `trade_custom_data` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `ft_trade_id` int(11) DEFAULT NULL,
  `cd_key` varchar(255) NOT NULL,
  `cd_type` varchar(25) NOT NULL,
  `cd_value` text NOT NULL,
  `created_at` datetime NOT NULL,
  `updated_at` datetime DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `_trade_id_cd_key` (`ft_trade_id`,`cd_key`),
  KEY `ix_trade_custom_data_ft_trade_id` (`ft_trade_id`),
  CONSTRAINT `trade_custom_data_ibfk_1` FOREIGN KEY (`ft_trade_id`) REFERENCES `trades` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `trades` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `exchange` varchar(25) NOT NULL,
  `pair` varchar(25) NOT NULL,
  `base_currency` varchar(25) DEFAULT NULL,
  `stake_currency` varchar(25) DEFAULT NULL,
  `is_open` tinyint(1) NOT NULL,
  `fee_open` float NOT NULL,
  `fee_open_cost` float DEFAULT NULL,
  `fee_open_currency` varchar(25) DEFAULT NULL,
  `fee_close` float NOT NULL,
  `fee_close_cost` float DEFAULT NULL,
  `fee_close_currency` varchar(25) DEFAULT NULL,
  `open_rate` float NOT NULL,
  `open_rate_requested` float DEFAULT NULL,
  `open_trade_value` float DEFAULT NULL,
  `close_rate` float DEFAULT NULL,
  `close_rate_requested` float DEFAULT NULL,
  `realized_profit` float DEFAULT NULL,
  `close_profit` float DEFAULT NULL,
  `close_profit_abs` float DEFAULT NULL,
  `stake_amount` float NOT NULL,
  `max_stake_amount` float DEFAULT NULL,
  `amount` float NOT NULL,
  `amount_requested` float DEFAULT NULL,
  `open_date` datetime NOT NULL,
  `close_date` datetime DEFAULT NULL,
  `stop_loss` float DEFAULT NULL,
  `stop_loss_pct` float DEFAULT NULL,
  `initial_stop_loss` float DEFAULT NULL,
  `initial_stop_loss_pct` float DEFAULT NULL,
  `is_stop_loss_trailing` tinyint(1) NOT NULL,
  `max_rate` float DEFAULT NULL,
  `min_rate` float DEFAULT NULL,
  `exit_reason` varchar(255) DEFAULT NULL,
  `exit_order_status` varchar(100) DEFAULT NULL,
  `strategy` varchar(100) DEFAULT NULL,
  `enter_tag` varchar(255) DEFAULT NULL,
  `timeframe` int(11) DEFAULT NULL,
  `trading_mode` enum('SPOT','MARGIN','FUTURES') DEFAULT NULL,
  `amount_precision` float DEFAULT NULL,
  `price_precision` float DEFAULT NULL,
  `precision_mode` int(11) DEFAULT NULL,
  `precision_mode_price` int(11) DEFAULT NULL,
  `contract_size` float DEFAULT NULL,
  `leverage` float DEFAULT NULL,
  `is_short` tinyint(1) NOT NULL,
  `liquidation_price` float DEFAULT NULL,
  `interest_rate` float NOT NULL,
  `funding_fees` float DEFAULT NULL,
  `funding_fee_running` float DEFAULT NULL,
  `record_version` int(11) NOT NULL,
  PRIMARY KEY (`id`),
  KEY `ix_trades_is_open` (`is_open`),
  KEY `ix_trades_pair` (`pair`)
) ENGINE=InnoDB AUTO_INCREMENT=9 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
INSERT INTO `trades` VALUES
(1,'hyperliquid','BTC/USDC:USDC','BTC','USDC',1,0.00045,0.181876,'USDC',0.00045,NULL,NULL,97000.5,97000.5,1213.05,NULL,NULL,0,NULL,NULL,404.169,404.169,0.0125,0.0125,'2025-01-06 14:30:00',NULL,93767.2,-0.1,93767.2,-0.1,0,0,NULL,NULL,NULL,'DriftwatchFixtureStrategy','breakout',5,'FUTURES',0.00001,0.1,4,4,1,3,0,65000.5,0,0,0,2),
(2,'hyperliquid','ETH/USDC:USDC','ETH','USDC',1,0.00045,0.460654,'USDC',0.00045,NULL,NULL,3412.25,3412.25,5116.07,NULL,NULL,0,NULL,NULL,1023.67,1023.67,1.5,1.5,'2025-01-06 14:35:00',NULL,3480.49,-0.1,3480.49,-0.1,0,0,NULL,NULL,NULL,'DriftwatchFixtureStrategy','mean_revert',5,'FUTURES',0.0001,0.01,4,4,1,5,1,4060.5,0,0,0,2),
(3,'hyperliquid','SOL/USDC:USDC','SOL','USDC',0,0.00045,0.843075,'USDC',0.00045,1.7559,'USDC',187.35,187.35,3748.69,195.1,195.1,151.495,0.0808259,151.495,1873.5,1873.5,20,20,'2025-01-06 14:40:00','2025-01-06 17:30:04',177.983,-0.1,177.983,-0.1,0,0,NULL,'exit_signal','closed','DriftwatchFixtureStrategy','breakout',5,'FUTURES',0.01,0.001,4,4,1,2,0,95.125,0,-0.0625,0,2),
(4,'hyperliquid','HYPE/USDC:USDC','HYPE','USDC',0,0.00045,0.558405,'USDC',0.00045,1.58625,'USDC',24.818,24.818,3721.02,23.5,23.5,194.564,0.156863,194.564,1240.9,1240.9,150,150,'2025-01-06 14:45:00','2025-01-06 19:30:01',25.645,-0.1,25.645,-0.1,0,0,NULL,'force_exit','closed','DriftwatchFixtureStrategy','mean_revert',5,'FUTURES',0.01,0.001,4,4,1,3,1,32.5,0,0.125,0,2),
(5,'hyperliquid','HYPE/USDC:USDC','HYPE','USDC',1,0.00045,0.285,'USDC',0.00045,NULL,NULL,23.75,23.75,1900.85,NULL,NULL,0,NULL,NULL,633.333,633.333,80,80,'2025-01-06 19:40:00',NULL,22.959,-0.1,22.959,-0.1,0,0,NULL,NULL,NULL,'DriftwatchFixtureStrategy','breakout',5,'FUTURES',0.01,0.001,4,4,1,3,0,16.25,0,0,0,2),
(6,'hyperliquid','BTC/USDC:USDC','BTC','USDC',0,0.00045,0.043425,'USDC',0.00045,0.17802,'USDC',96500,96500,385.826,98900,98900,-9.95172,-0.103173,-9.95172,96.5,96.5,0.004,0.004,'2025-01-06 14:50:00','2025-01-06 15:30:01',98912.4,-0.1,98912.4,-0.1,0,0,NULL,'stop_loss','closed','DriftwatchFixtureStrategy','mean_revert',5,'FUTURES',0.00001,0.1,4,4,1,4,1,119000,0,0,0,2),
(7,'hyperliquid','SOL/USDC:USDC','SOL','USDC',1,0.00045,0.566437,'USDC',0.00045,NULL,NULL,201.4,201.4,2516.37,NULL,190,0,NULL,NULL,1258.75,1258.75,12.5,12.5,'2025-01-06 20:30:00',NULL,211.47,-0.1,211.47,-0.1,0,0,NULL,'roi','','DriftwatchFixtureStrategy','mean_revert',5,'FUTURES',0.01,0.001,4,4,1,2,1,295.5,0,0,0,2),
(8,'hyperliquid','ETH/USDC:USDC','ETH','USDC',1,0.00045,NULL,NULL,0.00045,NULL,NULL,3300,3300,0,NULL,NULL,0,NULL,NULL,1237.5,0,0,0.75,'2025-01-06 22:30:00',NULL,3135,-0.1,3135,-0.1,0,0,NULL,NULL,NULL,'DriftwatchFixtureStrategy','breakout',5,'FUTURES',0.0001,0.01,4,4,1,2,0,NULL,0,0,NULL,2);
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `wallet_history` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `timestamp` datetime NOT NULL,
  `currency` varchar(25) NOT NULL,
  `rate` float DEFAULT NULL,
  `quote_currency` varchar(25) NOT NULL,
  `balance` float NOT NULL,
  `total_quote` float DEFAULT NULL,
  `total_position_value` float DEFAULT NULL,
  `collateral` float DEFAULT NULL,
  `leverage` float NOT NULL,
  `bot_managed` tinyint(1) NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `unique_wallet_daily` (`timestamp`,`currency`),
  KEY `ix_wallet_history_timestamp` (`timestamp`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;
SET FOREIGN_KEY_CHECKS=1;
